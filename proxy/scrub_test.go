package proxy

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/alter-sidecar/alter/inject"
)

// echoBack answers with the Authorization it received, in a header and in
// the body: the upstream that would hand the credential to the app.
func echoBack(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Echo-Authorization", r.Header.Get("Authorization"))
	fmt.Fprintf(w, "you sent: %s\n", r.Header.Get("Authorization"))
}

func TestEchoedCredentialIsMasked(t *testing.T) {
	for _, tc := range []struct {
		mode     string
		bodyMask bool
	}{{ScrubHeaders, false}, {ScrubBody, true}} {
		for _, url := range []string{"https://api.example.test/echo", "http://api.example.test/echo"} {
			t.Run(tc.mode+" "+url, func(t *testing.T) {
				e := newEnv(t, func(o *Options) { o.ScrubEcho = tc.mode })
				e.tlsUpstream("api.example.test", http.HandlerFunc(echoBack))
				e.addGrant(grantA, bearer, inject.Fields{"token": sentinel}, "api.example.test")
				req, _ := http.NewRequest("GET", url, nil)
				req.Header.Set("X-Alter-Grant", grantA)
				resp, err := e.client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if h := resp.Header.Get("X-Echo-Authorization"); strings.Contains(h, sentinel) || !strings.HasPrefix(h, "***") {
					t.Fatalf("echoed header not masked: %q", h)
				}
				if got := strings.Contains(string(body), sentinel); got == tc.bodyMask {
					t.Fatalf("mode %s: body %q", tc.mode, body)
				}
				if tc.bodyMask && resp.ContentLength >= 0 && int64(len(body)) != resp.ContentLength {
					t.Fatalf("masking changed the length: %d bytes, Content-Length %d", len(body), resp.ContentLength)
				}
			})
		}
	}
}

func TestScrubberAcrossReads(t *testing.T) {
	secret := "s3cr3t-value-123"
	tests := []struct{ name, in, want string }{
		{"whole", "a " + secret + " b", "a " + strings.Repeat("*", len(secret)) + " b"},
		{"twice", secret + secret, strings.Repeat("*", 2*len(secret))},
		{"prefix at the end is kept", "abc s3cr3t", "abc s3cr3t"},
		{"nothing", "plain text\n\n", "plain text\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// One byte per read: every match straddles reads.
			s := newScrubber(io.NopCloser(iotest.OneByteReader(strings.NewReader(tt.in))), []string{secret})
			out, err := io.ReadAll(s)
			if err != nil || string(out) != tt.want {
				t.Fatalf("got %q %v, want %q", out, err, tt.want)
			}
		})
	}
}

// TestBodyScrubbingDoesNotDelayStreams: an SSE event is handed on at once
// although the scrubber holds back possible partial secrets.
func TestBodyScrubbingDoesNotDelayStreams(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.ScrubEcho = ScrubBody })
	release := make(chan struct{})
	defer close(release)
	e.tlsUpstream("api.example.test", sseHandler(release))
	e.addGrant(grantA, bearer, inject.Fields{"token": sentinel}, "api.example.test")
	e.expectFirstEvent("https://api.example.test/events")
}

func TestScrubHeadersDropsNamesHoldingASecret(t *testing.T) {
	secrets := []string{"sk_live_abcdef0123456789"}
	tests := []struct {
		name     string
		header   http.Header
		wantKeys []string
	}{
		{"value masked", http.Header{"X-Echo": {"Bearer sk_live_abcdef0123456789"}}, []string{"X-Echo"}},
		{"name as canonicalised", http.Header{"Sk_live_abcdef0123456789": {"1"}, "Content-Type": {"text/plain"}}, []string{"Content-Type"}},
		{"name containing it, other case", http.Header{"X-SK_LIVE_ABCDEF0123456789-Y": {"1"}}, nil},
		{"short names untouched", http.Header{"Etag": {"x"}, "Vary": {"y"}}, []string{"Etag", "Vary"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			scrubHeaders(tt.header, secrets)
			var keys []string
			for k, vs := range tt.header {
				keys = append(keys, k)
				for _, v := range vs {
					if strings.Contains(v, secrets[0]) {
						t.Fatalf("value %q kept the secret", v)
					}
				}
			}
			slices.Sort(keys)
			if !slices.Equal(keys, tt.wantKeys) {
				t.Fatalf("keys %v, want %v", keys, tt.wantKeys)
			}
		})
	}
}
