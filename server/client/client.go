package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/alter-sidecar/alter/secretstore"
	"github.com/alter-sidecar/alter/server/wire"
)

// Client calls one control-plane server with one token. It is safe for
// concurrent use.
type Client struct {
	// BaseURL is the server's root, e.g. https://alter.internal:8443 (the
	// /v1 paths are appended).
	BaseURL *url.URL
	// Token goes in every request's Authorization header.
	Token Token
	// HTTP makes the requests. New builds one that verifies TLS, ignores
	// proxy variables and follows no redirect.
	HTTP *http.Client
	// Timeout bounds each call but the long poll (default 30s).
	Timeout time.Duration
}

// Options configure New.
type Options struct {
	URL    string // https://host[:port], or http:// to a loopback address
	Token  Token
	CAFile string // PEM roots that replace the system roots; "" for the system's
	// Timeout bounds each call but the long poll (default 30s).
	Timeout time.Duration
}

// DefaultTimeout bounds a call when Options.Timeout is 0.
const DefaultTimeout = 30 * time.Second

// maxAnswer bounds an answer body: a listing of many grants is the
// largest thing the server sends.
const maxAnswer = 64 << 20

// New checks the options and builds a client.
func New(o Options) (*Client, error) {
	u, err := wire.ParseURL(o.URL)
	if err != nil {
		return nil, err
	}
	if err := checkToken(string(o.Token)); err != nil {
		return nil, err
	}
	roots, err := loadRoots(o.CAFile)
	if err != nil {
		return nil, err
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy:                 nil, // the token goes to the server, not through whatever HTTPS_PROXY says
		DialContext:           dialer.DialContext,
		TLSClientConfig:       &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   10 * time.Second,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
		ExpectContinueTimeout: time.Second,
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &Client{
		BaseURL: u,
		Token:   o.Token,
		Timeout: timeout,
		HTTP: &http.Client{
			Transport:     tr,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}, nil
}

func loadRoots(file string) (*x509.CertPool, error) {
	if file == "" {
		return nil, nil // the system's
	}
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("server CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("server CA file %s: no PEM certificate in it", file)
	}
	return pool, nil
}

// call is one request: method and path (already escaped), an optional
// query, an optional JSON body, and where to decode a 2xx answer (nil to
// discard it).
type call struct {
	method, path string
	query        url.Values
	body         any
	out          any
	timeout      time.Duration // 0: c.Timeout
}

// do runs a call. Errors never contain the query string or the token.
func (c *Client) do(ctx context.Context, k call) error {
	timeout := k.timeout
	if timeout == 0 {
		timeout = c.Timeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	var body io.Reader
	if k.body != nil {
		data, err := json.Marshal(k.body)
		if err != nil {
			return fmt.Errorf("server: %s %s: encode request: %w", k.method, k.path, err)
		}
		body = bytes.NewReader(data)
	}
	target := c.BaseURL.String() + k.path
	if len(k.query) > 0 {
		target += "?" + k.query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, k.method, target, body)
	if err != nil {
		return fmt.Errorf("server: %s %s: %w", k.method, k.path, bare(err))
	}
	req.Header.Set("Authorization", "Bearer "+string(c.Token))
	req.Header.Set("Accept", "application/json")
	if k.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return &netError{k.method, k.path, bare(err)}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return &netError{k.method, k.path, bare(err)}
	}
	if len(data) > maxAnswer {
		return &netError{k.method, k.path, fmt.Errorf("answer larger than %d bytes", maxAnswer)}
	}
	if resp.StatusCode >= 300 {
		// A redirect is not followed (it could send the token elsewhere);
		// it is an answer we cannot use.
		return decodeError(k.method, k.path, resp.StatusCode, data)
	}
	if k.out == nil {
		return nil
	}
	if err := json.Unmarshal(data, k.out); err != nil {
		// The server is not speaking our API: not a verdict on anything.
		return &netError{k.method, k.path, fmt.Errorf("answer is not the expected JSON: %v", jsonProblem(err))}
	}
	return nil
}

// bare drops *url.Error's wrapping, whose message holds the full URL.
func bare(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// jsonProblem describes a decoding error without quoting the input, which
// could be a secret (a Resolution's fields).
func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("field %q has the wrong type", te.Field)
	}
	return "malformed"
}

// segment escapes one path segment (a grant or token id), refusing ids
// that would change the path's meaning.
func segment(id string) (string, error) {
	if id == "" || id == "." || id == ".." {
		return "", fmt.Errorf("%w: id %q", secretstore.ErrNotFound, id)
	}
	return url.PathEscape(id), nil
}
