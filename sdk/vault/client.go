package vault

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
)

// EnvProxy names the environment variable New reads the sidecar address from.
const EnvProxy = "ALTER_PROXY"

// DefaultProxy is the sidecar address when neither WithProxy nor ALTER_PROXY is set.
const DefaultProxy = "http://127.0.0.1:8080"

// Client sends requests through the alter sidecar. It is safe for
// concurrent use and keeps a pool of connections to the sidecar, so create
// one and reuse it.
type Client struct {
	proxy *url.URL   // the sidecar, without user information
	auth  *ProxyAuth // nil: no client authentication; a pointer so fmt prints an address, not the secret
	tr    *http.Transport
}

// Option configures New.
type Option func(*settings) error

type settings struct {
	proxy string
	auth  *ProxyAuth
}

// WithProxy sets the sidecar address ("http://127.0.0.1:8080" or
// "127.0.0.1:8080"), overriding ALTER_PROXY.
func WithProxy(addr string) Option {
	return func(s *settings) error { s.proxy = addr; return nil }
}

// WithProxyAuth authenticates this application to a sidecar configured with
// proxy_auth; see BasicAuth and BearerAuth.
func WithProxyAuth(a ProxyAuth) Option {
	return func(s *settings) error {
		if a.value == "" {
			return errors.New("vault: WithProxyAuth needs BasicAuth or BearerAuth")
		}
		s.auth = &a
		return nil
	}
}

// ProxyAuth is a Proxy-Authorization credential. It never prints its value.
type ProxyAuth struct{ value string }

// BasicAuth is "Proxy-Authorization: Basic name:secret", name being the
// client's proxy_auth.clients name.
func BasicAuth(name, secret string) ProxyAuth {
	return ProxyAuth{"Basic " + base64.StdEncoding.EncodeToString([]byte(name+":"+secret))}
}

// BearerAuth is "Proxy-Authorization: Bearer token".
func BearerAuth(token string) ProxyAuth { return ProxyAuth{"Bearer " + token} }

// Format keeps the credential out of every fmt verb (%v, %+v, %#v, %s).
func (ProxyAuth) Format(f fmt.State, _ rune) { io.WriteString(f, "vault.ProxyAuth{[redacted]}") }

// New returns a Client for the sidecar named by WithProxy, else ALTER_PROXY,
// else DefaultProxy. User information in the address
// (http://name:secret@127.0.0.1:8080) becomes Basic proxy authentication
// unless WithProxyAuth is given.
func New(opts ...Option) (*Client, error) {
	var s settings
	for _, o := range opts {
		if err := o(&s); err != nil {
			return nil, err
		}
	}
	addr := s.proxy
	if addr == "" {
		addr = os.Getenv(EnvProxy)
	}
	if addr == "" {
		addr = DefaultProxy
	}
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	u, err := url.Parse(addr)
	if err != nil {
		// url's error repeats the input, which may hold a password.
		return nil, errors.New("vault: the sidecar address is not a URL")
	}
	if u.Scheme != "http" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return nil, fmt.Errorf("vault: the sidecar address must be http://host:port (got scheme %q, host %q)", u.Scheme, u.Host)
	}
	if u.User != nil && s.auth == nil {
		pw, _ := u.User.Password()
		a := BasicAuth(u.User.Username(), pw)
		s.auth = &a
	}
	c := &Client{proxy: &url.URL{Scheme: "http", Host: u.Host}, auth: s.auth}
	c.tr = http.DefaultTransport.(*http.Transport).Clone()
	// Every request goes to the sidecar, whatever HTTP(S)_PROXY say; the
	// hop is plain HTTP, so no TLS settings apply to it.
	c.tr.Proxy = http.ProxyURL(c.proxy)
	return c, nil
}

// ProxyURL is the sidecar's address (never with credentials).
func (c *Client) ProxyURL() string { return c.proxy.String() }

// RoundTripper returns an http.RoundTripper that sends every request through
// the sidecar with X-Alter-Grant: grantID (replacing any the request has).
// Use it as an http.Client's Transport, or hand it to an API SDK.
//
// Unlike a plain transport, a refusal by the sidecar is returned as an error
// (a typed one, see ProxyError) and no response, because the answer is the
// sidecar's and not the API's; an http.Client wraps it in *url.Error, which
// errors.As sees through. Set X-Alter-Reason on a request to record why it
// was made.
func (c *Client) RoundTripper(grantID string) http.RoundTripper {
	return &roundTripper{c: c, grant: grantID, needGrant: true}
}

// Transport is RoundTripper without a fixed grant: each request names its
// own in an X-Alter-Grant header, and one without is passed through as the
// sidecar's passthrough setting allows.
func (c *Client) Transport() http.RoundTripper { return &roundTripper{c: c} }

// CloseIdleConnections closes idle connections to the sidecar.
func (c *Client) CloseIdleConnections() { c.tr.CloseIdleConnections() }

// RequestOption configures one Request.
type RequestOption func(*http.Request)

// WithReason adds X-Alter-Reason: free text the sidecar writes into the
// audit record (and strips before forwarding). Never put a secret in it.
func WithReason(reason string) RequestOption {
	return func(r *http.Request) { r.Header.Set(HeaderReason, reason) }
}

// WithHeader sets a request header, e.g. Content-Type.
func WithHeader(name, value string) RequestOption {
	return func(r *http.Request) { r.Header.Set(name, value) }
}

// Request sends one request through the sidecar with grantID's credential.
// The caller must close the response body. Redirects are returned, not
// followed (the sidecar does the same); use RoundTripper with an
// http.Client to follow them. A refusal by the sidecar is a typed error
// and a nil response; the upstream API's own 4xx and 5xx answers are
// ordinary responses with a nil error.
func (c *Client) Request(ctx context.Context, method, rawURL string, body io.Reader, grantID string, opts ...RequestOption) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, rawURL, body)
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	for _, o := range opts {
		o(req)
	}
	return c.RoundTripper(grantID).RoundTrip(req)
}

type roundTripper struct {
	c         *Client
	grant     string
	needGrant bool
}

func (rt *roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	out, err := rt.c.prepare(req, rt.grant, rt.needGrant)
	if err != nil {
		if req.Body != nil {
			req.Body.Close() // RoundTrip always closes the body
		}
		return nil, err
	}
	resp, err := rt.c.tr.RoundTrip(out)
	if err != nil {
		return nil, fmt.Errorf("vault: sidecar %s: %w", rt.c.proxy.Host, err)
	}
	if err := checkResponse(resp); err != nil {
		return nil, err
	}
	resp.Request = req
	return resp, nil
}

// prepare copies req into the form the sidecar gets: absolute-form with the
// application's own scheme. net/http would CONNECT for an https URL (and
// the app would then need the sidecar's CA); with URL.Opaque holding the
// whole target and Scheme "http", it writes "GET https://host/path" on the
// plain connection to the sidecar instead.
func (c *Client) prepare(req *http.Request, grant string, needGrant bool) (*http.Request, error) {
	u := req.URL
	switch {
	case u == nil || (u.Scheme != "http" && u.Scheme != "https"):
		return nil, errors.New("vault: only http:// and https:// URLs can be sent through the sidecar")
	case u.Host == "":
		return nil, errors.New("vault: the URL has no host")
	case u.User != nil:
		return nil, errors.New("vault: user information in the URL is not allowed; the sidecar injects credentials")
	case u.Opaque != "":
		return nil, errors.New("vault: opaque URLs are not supported")
	case needGrant && grant == "":
		return nil, errors.New("vault: a grant id is required")
	}
	out := req.Clone(req.Context())
	if err := setCallContext(out); err != nil {
		return nil, err
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	out.URL = &url.URL{Scheme: "http", Host: u.Host, Opaque: u.Scheme + "://" + u.Host + path, RawQuery: u.RawQuery}
	if needGrant {
		out.Header.Set(HeaderGrant, grant)
	}
	if c.auth != nil {
		out.Header.Set("Proxy-Authorization", c.auth.value)
	}
	return out, nil
}
