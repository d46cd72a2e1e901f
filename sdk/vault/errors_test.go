package vault_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/sdk/vault"
)

// TestErrorMapping: each refusal the sidecar marks with X-Alter-Error
// becomes its typed error (and a *ProxyError with every field), with a nil
// response; codes without a type are a plain *ProxyError.
func TestErrorMapping(t *testing.T) {
	cases := []struct {
		status int
		code   string
		rule   string
		check  func(error) bool
	}{
		{403, vault.CodeGrantUnavailable, "", func(e error) bool { var x *vault.GrantUnavailableError; return errors.As(e, &x) }},
		{403, vault.CodePolicyDenied, "path", func(e error) bool { var x *vault.PolicyDeniedError; return errors.As(e, &x) && x.Rule == "path" }},
		{502, vault.CodeUpstreamError, "", func(e error) bool { var x *vault.UpstreamError; return errors.As(e, &x) && !x.Timeout }},
		{504, vault.CodeUpstreamTimeout, "", func(e error) bool { var x *vault.UpstreamError; return errors.As(e, &x) && x.Timeout }},
		{503, vault.CodeStoreUnavailable, "", func(e error) bool { var x *vault.StoreUnavailableError; return errors.As(e, &x) }},
		{503, vault.CodeAuditUnavailable, "", func(e error) bool { var x *vault.AuditUnavailableError; return errors.As(e, &x) }},
		{407, vault.CodeProxyAuthRequired, "", func(e error) bool { var x *vault.ProxyAuthRequiredError; return errors.As(e, &x) }},
		{400, vault.CodeBadRequest, "", isPlain},
		{403, vault.CodePassthroughDenied, "", isPlain},
		{413, vault.CodeTooLarge, "", isPlain},
		{500, vault.CodeInternal, "", isPlain},
		{418, "some_future_code", "", isPlain},
	}
	for _, tc := range cases {
		c, _ := sidecar(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set(vault.HeaderError, tc.code)
			w.Header().Set(vault.HeaderRequestID, "req-1")
			w.WriteHeader(tc.status)
			body := `{"error":"` + tc.code + `","message":"why it failed"`
			if tc.rule != "" {
				body += `,"rule":"` + tc.rule + `"`
			}
			io.WriteString(w, body+"}\n")
		})
		resp, err := c.Request(context.Background(), "GET", "https://api.example.test/", nil, grant)
		if resp != nil || err == nil || !tc.check(err) {
			t.Errorf("%s: resp %v, err %T %v", tc.code, resp, err, err)
			continue
		}
		var pe *vault.ProxyError
		if !errors.As(err, &pe) || pe.Status != tc.status || pe.Code != tc.code || pe.Message != "why it failed" || pe.Rule != tc.rule || pe.RequestID != "req-1" {
			t.Errorf("%s: ProxyError %+v", tc.code, pe)
		}
		if msg := err.Error(); !strings.Contains(msg, tc.code) || !strings.Contains(msg, "why it failed") || strings.Contains(msg, grant) {
			t.Errorf("%s: message %q", tc.code, msg)
		}
	}
}

// TestGoverningRefusals: the refusals of the governing rules carry what a
// client needs to act on them: when to retry a rate limit, which approval
// a held request waits for and until when, a denial's note.
func TestGoverningRefusals(t *testing.T) {
	expires := time.Date(2026, 12, 7, 18, 0, 0, 0, time.UTC)
	cases := []struct {
		name   string
		status int
		code   string
		header map[string]string
		body   string
		check  func(error) bool
	}{
		{"rate limited", 429, vault.CodeRateLimited, map[string]string{"Retry-After": "17"}, `{"error":"rate_limited","message":"m","rule":"rate_limit"}`,
			func(e error) bool {
				var x *vault.RateLimitedError
				return errors.As(e, &x) && x.RetryAfter == 17*time.Second
			}},
		{"rate limited, no Retry-After", 429, vault.CodeRateLimited, nil, `{"error":"rate_limited","message":"m"}`,
			func(e error) bool { var x *vault.RateLimitedError; return errors.As(e, &x) && x.RetryAfter == 0 }},
		{"approval pending", 403, vault.CodeApprovalPending, map[string]string{vault.HeaderApproval: "apr_1"},
			`{"error":"approval_pending","message":"m","approval_id":"apr_1","status":"pending","expires_at":"2026-12-07T18:00:00Z"}`,
			func(e error) bool {
				var x *vault.ApprovalPendingError
				return errors.As(e, &x) && x.ApprovalID == "apr_1" && x.ExpiresAt.Equal(expires)
			}},
		{"approval pending, id only in the header", 202, vault.CodeApprovalPending, map[string]string{vault.HeaderApproval: "apr_2"}, `not json`,
			func(e error) bool {
				var x *vault.ApprovalPendingError
				return errors.As(e, &x) && x.ApprovalID == "apr_2"
			}},
		{"approval denied", 403, vault.CodeApprovalDenied, nil, `{"error":"approval_denied","message":"m","approval_id":"apr_3","status":"denied","note":"not today"}`,
			func(e error) bool {
				var x *vault.ApprovalDeniedError
				return errors.As(e, &x) && x.ApprovalID == "apr_3" && x.Note == "not today"
			}},
		{"credential unavailable", 502, vault.CodeCredentialUnavailable, nil, `{"error":"credential_unavailable","message":"m","reason":"token_endpoint_rejected"}`,
			func(e error) bool {
				var x *vault.CredentialUnavailableError
				return errors.As(e, &x) && x.Reason == "token_endpoint_rejected"
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := sidecar(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set(vault.HeaderError, tc.code)
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			})
			resp, err := c.Request(context.Background(), "POST", "https://api.example.test/v1/refunds", nil, grant)
			var pe *vault.ProxyError
			if resp != nil || !tc.check(err) || !errors.As(err, &pe) || pe.Code != tc.code || pe.Status != tc.status {
				t.Fatalf("resp %v, err %T %v", resp, err, err)
			}
		})
	}
}

func isPlain(e error) bool {
	_, ok := e.(*vault.ProxyError)
	return ok
}

// TestMalformedRefusal: a refusal whose body is not the expected JSON still
// maps by its header, with the status text as message.
func TestMalformedRefusal(t *testing.T) {
	c, _ := sidecar(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(vault.HeaderError, vault.CodeStoreUnavailable)
		w.WriteHeader(503)
		io.WriteString(w, "<html>oops")
	})
	_, err := c.Request(context.Background(), "GET", "https://api.example.test/", nil, grant)
	var su *vault.StoreUnavailableError
	if !errors.As(err, &su) || su.Message != "Service Unavailable" {
		t.Fatalf("got %v", err)
	}
}

// TestUpstreamStatusIsAResponse: an API's own 4xx/5xx (no X-Alter-Error) is
// the application's to read, even when its body looks like a refusal.
func TestUpstreamStatusIsAResponse(t *testing.T) {
	const body = `{"error":"upstream_error","message":"the API's own words"}`
	for _, status := range []int{401, 403, 404, 500, 502, 503} {
		c, _ := sidecar(t, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
			io.WriteString(w, body)
		})
		resp, err := c.Request(context.Background(), "GET", "https://api.example.test/", nil, grant)
		if err != nil {
			t.Fatalf("%d: %v", status, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != status || string(b) != body {
			t.Fatalf("%d: got %d %q", status, resp.StatusCode, b)
		}
	}
}

// TestSidecarDown: an unreachable sidecar is an error naming it, not a
// typed refusal.
func TestSidecarDown(t *testing.T) {
	c, err := vault.New(vault.WithProxy("http://127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Request(context.Background(), "GET", "https://api.example.test/", nil, grant)
	var pe *vault.ProxyError
	if err == nil || errors.As(err, &pe) || !strings.Contains(err.Error(), "sidecar 127.0.0.1:1") {
		t.Fatalf("got %v", err)
	}
}
