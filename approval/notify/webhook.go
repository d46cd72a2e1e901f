// Package notify tells people that a request waits for their approval: a
// webhook gets one signed JSON message per new pending approval, with a
// Slack-compatible "text", the approval's fields and a link to the
// portal. Messages are queued and sent in the background with retries, so
// holding a request never waits on the webhook.
//
// Each POST carries
//
//	X-Alter-Timestamp: <unix seconds>
//	X-Alter-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" under the shared secret>
//
// so a receiver can check that the message is ours and fresh (refuse a
// timestamp more than five minutes off). An approval's id is in every
// message: a receiver can drop a retried one it already has.
package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/alter-sidecar/alter/approval"
)

// Header names of a message.
const (
	HeaderTimestamp = "X-Alter-Timestamp"
	HeaderSignature = "X-Alter-Signature"
)

// Options configure a Webhook.
type Options struct {
	URL    string // never logged: it can be a secret itself
	Secret []byte
	// PortalURL, if set, is linked from each message (its Approvals page).
	PortalURL string
	Client    *http.Client
	Log       *zap.Logger
	// Attempts bounds the tries per message (default 6); Backoff is the
	// first wait between them, doubled each time (default 1s).
	Attempts int
	Backoff  time.Duration
	// QueueSize bounds messages waiting to be sent (default 256); past it
	// new ones are dropped and logged.
	QueueSize int
	Now       func() time.Time
	// After waits between retries; tests replace it.
	After func(time.Duration) <-chan time.Time
}

// Webhook sends messages from a queue. Close stops it.
type Webhook struct {
	o     Options
	queue chan approval.Approval
	stop  chan struct{}
	done  sync.WaitGroup
	once  sync.Once
}

// New starts a webhook sender.
func New(o Options) *Webhook {
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.Attempts <= 0 {
		o.Attempts = 6
	}
	if o.Backoff <= 0 {
		o.Backoff = time.Second
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 256
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.After == nil {
		o.After = time.After
	}
	w := &Webhook{o: o, queue: make(chan approval.Approval, o.QueueSize), stop: make(chan struct{})}
	w.done.Add(1)
	go w.run()
	return w
}

// Notify queues a message for a. It never blocks.
func (w *Webhook) Notify(a approval.Approval) {
	select {
	case w.queue <- a:
	default:
		w.o.Log.Warn("approval notification dropped: the webhook queue is full", zap.String("approval_id", a.ID))
	}
}

// Close stops sending; queued messages not yet sent are dropped.
func (w *Webhook) Close() {
	w.once.Do(func() { close(w.stop) })
	w.done.Wait()
}

func (w *Webhook) run() {
	defer w.done.Done()
	for {
		select {
		case <-w.stop:
			return
		case a := <-w.queue:
			w.deliver(a)
		}
	}
}

func (w *Webhook) deliver(a approval.Approval) {
	body, err := json.Marshal(Message(a, w.o.PortalURL))
	if err != nil {
		w.o.Log.Error("approval notification could not be encoded", zap.String("approval_id", a.ID), zap.Error(err))
		return
	}
	wait := w.o.Backoff
	for attempt := 1; ; attempt++ {
		status, err := w.post(body)
		if err == nil && status < 300 {
			return
		}
		// Neither the URL nor the body is logged: the URL can be a secret.
		fields := []zap.Field{zap.String("approval_id", a.ID), zap.Int("attempt", attempt), zap.Int("status", status)}
		if err != nil {
			fields = append(fields, zap.String("error", redact(err.Error(), w.o.URL)))
		}
		retryable := err != nil || status == http.StatusTooManyRequests || status >= 500
		if !retryable || attempt >= w.o.Attempts {
			w.o.Log.Warn("approval notification failed", fields...)
			return
		}
		w.o.Log.Info("approval notification failed; retrying", fields...)
		select {
		case <-w.stop:
			return
		case <-w.o.After(wait):
		}
		wait *= 2
	}
}

func (w *Webhook) post(body []byte) (int, error) {
	ts := strconv.FormatInt(w.o.Now().Unix(), 10)
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, w.o.URL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "alter-approvals")
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(w.o.Secret, ts, body))
	resp, err := w.o.Client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// Sign is the X-Alter-Signature value for a message: "sha256=" and the hex
// HMAC-SHA256 of timestamp, ".", body.
func Sign(secret []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp))
	m.Write([]byte("."))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a message's signature and that its timestamp is within
// skew of now: what a receiver does (and our tests, as one).
func Verify(secret []byte, timestamp, signature string, body []byte, now time.Time, skew time.Duration) error {
	sec, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("bad %s", HeaderTimestamp)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > skew || d < -skew {
		return fmt.Errorf("%s is %v off", HeaderTimestamp, d)
	}
	if !hmac.Equal([]byte(Sign(secret, timestamp, body)), []byte(signature)) {
		return fmt.Errorf("bad %s", HeaderSignature)
	}
	return nil
}

// Msg is a message's body.
type Msg struct {
	// Text is what Slack-compatible receivers show.
	Text     string            `json:"text"`
	Event    string            `json:"event"` // "approval.pending"
	Approval approval.Approval `json:"approval"`
	Link     string            `json:"link,omitempty"`
}

// Message builds the message for a. Client-sent text (the path, the
// reason) is shown by plain, and the reason quoted, so it cannot pass for
// our own words or format the message.
func Message(a approval.Approval, portalURL string) Msg {
	m := Msg{Event: "approval.pending", Approval: a}
	if portalURL != "" {
		m.Link = strings.TrimSuffix(portalURL, "/") + "/approvals/" + a.ID
	}
	who := a.Actor
	if who == "" {
		who = "a client"
	}
	m.Text = fmt.Sprintf("Approval needed: %s wants %s %s://%s%s with grant %s (approval %s, expires %s).",
		who, a.Method, a.Scheme, a.Host, plain(unquoted(a.Path)), a.GrantID, a.ID, a.ExpiresAt.UTC().Format(time.RFC3339))
	if a.Reason != "" {
		m.Text += " Reason: " + plain(strconv.Quote(a.Reason)) + "."
	}
	if m.Link != "" {
		m.Text += " " + m.Link
	} else {
		m.Text += " Decide with: alter approvals approve " + a.ID + " (or deny)."
	}
	return m
}

// plain escapes what Slack-compatible receivers read as markup (&, < and
// >: links, @channel mentions), as their formatting rules ask.
func plain(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// unquoted is s with control characters and line separators escaped, as
// strconv.Quote does, without the quotes.
func unquoted(s string) string {
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}

// redact removes the webhook URL, and its path and query on their own,
// from an error text.
func redact(s, raw string) string {
	parts := []string{raw}
	if u, err := url.Parse(raw); err == nil {
		parts = append(parts, u.String(), u.EscapedPath(), u.Path, u.RawQuery)
	}
	for _, p := range parts {
		if len(p) > 1 {
			s = strings.ReplaceAll(s, p, "(approvals.notify.url)")
		}
	}
	return s
}

// CheckURL accepts the URL of a signed webhook (approval notifications,
// audit forwarding): https, or http only to a loopback address (a local
// relay), since the messages describe requests. The error never repeats
// the URL: it may carry a token.
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil {
		return fmt.Errorf("must be an absolute http(s) URL without user information")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if ip := net.ParseIP(u.Hostname()); (ip != nil && ip.IsLoopback()) || u.Hostname() == "localhost" {
			return nil
		}
		return fmt.Errorf("http is allowed only to a loopback address; use https")
	}
	return fmt.Errorf("must be an https URL")
}
