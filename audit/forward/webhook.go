package forward

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/alter-sidecar/alter/approval/notify"
	"github.com/alter-sidecar/alter/server/wire"
)

// Header names of a webhook POST, the same as approval notifications.
const (
	HeaderTimestamp = notify.HeaderTimestamp
	HeaderSignature = notify.HeaderSignature
)

// DefaultTimeout bounds one send: a webhook POST, a syslog dial and
// write.
const DefaultTimeout = 30 * time.Second

// MinSecretBytes is the shortest HMAC key accepted.
const MinSecretBytes = 16

// Batch is a webhook POST's body.
type Batch struct {
	Records []Record `json:"records"`
}

// Record is one forwarded audit record: the id to dedupe on, where it
// came from, and the record itself (the audit line's JSON object).
type Record struct {
	ID     string `json:"id"`
	Source string `json:"source,omitempty"`
	// Event is what the trail says the record is, set by whoever stored
	// it: on the server "grant_use" for what a sidecar shipped, else the
	// server's own event (grant_revoke, portal_login, ...). A SIEM rule
	// goes by this and Source ("server" for the server's own records),
	// never by the record's inner "event": a sidecar writes its records'
	// bodies, so they can say anything.
	Event  string          `json:"event,omitempty"`
	Time   time.Time       `json:"time"`
	Record json.RawMessage `json:"record"`
}

// WebhookOptions configure a Webhook.
type WebhookOptions struct {
	URL    string // never logged or put in an error: it can be a secret itself
	Secret []byte // the HMAC-SHA256 key, at least MinSecretBytes
	Client *http.Client
	Now    func() time.Time
}

// Webhook POSTs each batch as one signed JSON message:
//
//	X-Alter-Timestamp: <unix seconds>
//	X-Alter-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">
//
// A 2xx answer acknowledges the whole batch; anything else (or no
// answer) is an error and the batch is sent again later.
type Webhook struct {
	o WebhookOptions
}

// NewWebhook checks the options.
func NewWebhook(o WebhookOptions) (*Webhook, error) {
	if u, err := url.Parse(o.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errors.New("audit forward webhook: the url is not an absolute http(s) URL")
	}
	if len(o.Secret) < MinSecretBytes {
		return nil, fmt.Errorf("audit forward webhook: the secret is shorter than %d bytes", MinSecretBytes)
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: DefaultTimeout}
	}
	// A redirect is not an acknowledgement, and following one would send
	// the records somewhere the config does not name.
	c := *o.Client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	o.Client = &c
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Webhook{o: o}, nil
}

// MaxPostBytes is the most one POST's body carries (nginx's default
// client_max_body_size, in front of many receivers), unless a single
// record is bigger. A shipped record's body can be 64 KiB, six times that
// once JSON escapes it: a thousand in one POST would be refused as too
// large on every retry, and forwarding would stall.
const MaxPostBytes = 1 << 20

// ShipAudit sends recs in as few POSTs of at most MaxPostBytes as it
// can, in order, and returns how many the receiver acknowledged: all of
// them, or the records of the POSTs before the one that failed, with its
// error.
func (w *Webhook) ShipAudit(ctx context.Context, recs []wire.AuditRecord) (int, error) {
	const envelope = len(`{"records":[]}`)
	acked := 0
	var encoded [][]byte
	size := envelope
	for i, r := range recs {
		e, err := json.Marshal(recordOf(r))
		if err != nil {
			return acked, fmt.Errorf("audit forward webhook: encode record %d: %w", i, err)
		}
		if len(encoded) > 0 && size+1+len(e) > MaxPostBytes {
			if err := w.post(ctx, encoded); err != nil {
				return acked, err
			}
			acked += len(encoded)
			encoded, size = nil, envelope
		}
		encoded = append(encoded, e)
		size += len(e) + 1
	}
	if len(encoded) > 0 {
		if err := w.post(ctx, encoded); err != nil {
			return acked, err
		}
		acked += len(encoded)
	}
	return acked, nil
}

// post sends encoded records (forward.Record JSON) as one Batch.
func (w *Webhook) post(ctx context.Context, encoded [][]byte) error {
	body := append([]byte(`{"records":[`), bytes.Join(encoded, []byte(","))...)
	body = append(body, "]}"...)
	ts := strconv.FormatInt(w.o.Now().Unix(), 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.o.URL, bytes.NewReader(body))
	if err != nil {
		return errors.New("audit forward webhook: cannot build the request")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "alter-audit-forward")
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(w.o.Secret, ts, body))
	resp, err := w.o.Client.Do(req)
	if err != nil {
		return fmt.Errorf("audit forward webhook: %w", stripURL(err))
	}
	// The status is the answer: the body is read (up to a bound) only so
	// the connection can be kept, and a failure to read it does not undo
	// a 2xx.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("audit forward webhook: the receiver answered %d", resp.StatusCode)
	}
	return nil
}

// stripURL drops the URL net/http puts in its errors: it can hold a
// token (in the path or query), and errors reach the log.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// Sign is the X-Alter-Signature value for a body sent at timestamp:
// "sha256=" and the hex HMAC-SHA256 of timestamp, ".", body. It is the
// approval notifications' scheme, so one receiver check serves both.
func Sign(secret []byte, timestamp string, body []byte) string {
	return notify.Sign(secret, timestamp, body)
}

// Verify checks a POST's signature and that its timestamp is within
// skew of now: what a receiver does (and the tests, as one).
func Verify(secret []byte, timestamp, signature string, body []byte, now time.Time, skew time.Duration) error {
	return notify.Verify(secret, timestamp, signature, body, now, skew)
}

// recordOf is the forwarded form of a trail record.
func recordOf(r wire.AuditRecord) Record {
	return Record{ID: r.ID, Source: r.Source, Event: r.Event, Time: r.Time.UTC(), Record: r.Body}
}
