package vault_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/alter-sidecar/alter/sdk/vault"
)

// TestCallContext: the call context reaches the sidecar as its three
// headers, from a Request option or from the request's context.Context;
// a header the request sets itself wins over the context's; a value over
// the limit is refused before anything is sent, naming the header only.
func TestCallContext(t *testing.T) {
	c, got := sidecar(t, nil)
	cc := vault.CallContext{RunID: "run-1", ThreadID: "thread-1", Tool: "search"}
	long := strings.Repeat("x", vault.MaxCallContextBytes+1)
	for _, tt := range []struct {
		name    string
		send    func() error
		want    map[string]string // headers the sidecar must see; nil: nothing sent
		wantErr string
	}{
		{"request option", func() error {
			return do(c.Request(context.Background(), "GET", "https://api.example.test/", nil, grant, vault.WithCallContext(cc)))
		}, map[string]string{vault.HeaderRunID: "run-1", vault.HeaderThreadID: "thread-1", vault.HeaderTool: "search"}, ""},
		{"empty fields are not sent", func() error {
			return do(c.Request(context.Background(), "GET", "https://api.example.test/", nil, grant, vault.WithCallContext(vault.CallContext{Tool: "t"})))
		}, map[string]string{vault.HeaderRunID: "", vault.HeaderThreadID: "", vault.HeaderTool: "t"}, ""},
		{"context on a round tripper", func() error {
			req, _ := http.NewRequestWithContext(vault.ContextWithCall(context.Background(), cc), "GET", "https://api.example.test/", nil)
			return do((&http.Client{Transport: c.RoundTripper(grant)}).Do(req))
		}, map[string]string{vault.HeaderRunID: "run-1", vault.HeaderThreadID: "thread-1", vault.HeaderTool: "search"}, ""},
		{"the request's own header wins", func() error {
			req, _ := http.NewRequestWithContext(vault.ContextWithCall(context.Background(), cc), "GET", "https://api.example.test/", nil)
			req.Header.Set(vault.HeaderTool, "mine")
			return do(c.Transport().RoundTrip(req))
		}, map[string]string{vault.HeaderRunID: "run-1", vault.HeaderTool: "mine"}, ""},
		{"exactly the limit", func() error {
			return do(c.Request(context.Background(), "GET", "https://api.example.test/", nil, grant,
				vault.WithCallContext(vault.CallContext{RunID: long[1:]})))
		}, map[string]string{vault.HeaderRunID: long[1:]}, ""},
		{"over the limit", func() error {
			return do(c.Request(context.Background(), "GET", "https://api.example.test/", nil, grant, vault.WithCallContext(vault.CallContext{RunID: long})))
		}, nil, "X-Alter-Run-Id is 129 bytes, at most 128"},
		{"over the limit from the context", func() error {
			ctx := vault.ContextWithCall(context.Background(), vault.CallContext{Tool: long})
			return do(c.Request(ctx, "GET", "https://api.example.test/", nil, grant))
		}, nil, "X-Alter-Tool is 129 bytes"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := len(got())
			err := tt.send()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), long[:20]) {
					t.Fatalf("error %v, want %q without the value", err, tt.wantErr)
				}
				if len(got()) != before {
					t.Fatal("a refused request was sent")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			reqs := got()
			if len(reqs) != before+1 {
				t.Fatalf("%d requests sent", len(reqs)-before)
			}
			h := reqs[len(reqs)-1].Header
			for k, v := range tt.want {
				if h.Get(k) != v {
					t.Errorf("%s = %q, want %q", k, h.Get(k), v)
				}
			}
		})
	}
}

// do closes a response and returns the error.
func do(resp *http.Response, err error) error {
	if resp != nil {
		resp.Body.Close()
	}
	return err
}
