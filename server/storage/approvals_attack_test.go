package storage

import (
	"errors"
	"strings"
	"testing"

	"github.com/alter-sidecar/alter/approval"
	"github.com/alter-sidecar/alter/secretstore"
)

// TestApprovalRequestText: the one-line fields a sidecar sends to be held
// (the client's name above all, shown to the person deciding) carry no
// control character: an escape sequence could rewrite what a terminal
// shows the approver.
func TestApprovalRequestText(t *testing.T) {
	base := heldRequest("g", "{}")
	cases := map[string]func(r *approval.Request){
		"actor with an escape":     func(r *approval.Request) { r.Actor = "agent\x1b[2K\rops" },
		"actor with a newline":     func(r *approval.Request) { r.Actor = "agent\nops" },
		"actor with a line sep":    func(r *approval.Request) { r.Actor = "agent\u2028ops" },
		"host with a NUL":          func(r *approval.Request) { r.Host = "api.example.com\x00" },
		"method with a CR":         func(r *approval.Request) { r.Method = "POST\r" },
		"profile with a bell":      func(r *approval.Request) { r.Profile = "ci\a" },
		"prefix with a DEL":        func(r *approval.Request) { r.Prefix = "/v1\x7f" },
		"request id with a tab":    func(r *approval.Request) { r.RequestID = "req\t1" },
		"scheme with a C1 control": func(r *approval.Request) { r.Scheme = "https\u009b" },
		"actor over 8 KiB":         func(r *approval.Request) { r.Actor = strings.Repeat("a", 8<<10+1) },
		"match not hex":            func(r *approval.Request) { r.Match = strings.Repeat("G", 64) },
		"preview over 1 KiB":       func(r *approval.Request) { r.Preview = strings.Repeat("p", approval.PreviewBytes+1) },
		"grant id a path":          func(r *approval.Request) { r.GrantID = "../\x00" },
		"port out of range":        func(r *approval.Request) { r.Port = 65536 },
	}
	for name, edit := range cases {
		r := base
		edit(&r)
		if err := CheckApprovalRequest(r); !errors.Is(err, secretstore.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		} else if strings.ContainsAny(err.Error(), "\x1b\n\x00\r\a\t") {
			t.Errorf("%s: the error quotes the input: %q", name, err)
		}
	}
	ok := base
	ok.Reason, ok.Preview, ok.Actor = "refund\tper ticket 42", "{\n  \"amount\": 5\n}", "Agent Smith (ci)"
	if err := CheckApprovalRequest(ok); err != nil {
		t.Errorf("a request with a tab in its reason and newlines in its preview: %v", err)
	}
}
