package config

import (
	"net/url"
	"time"

	"github.com/alter-sidecar/alter/approval/notify"
)

// Approvals configures requests that a grant's approval rule holds.
//
//	approvals:
//	  hold: 60s          # how long a request waits for a decision (0s: answer 403 approval_pending at once)
//	  expire: 1h         # how long a pending approval can be decided
//	  portal_url: https://alter.example.com   # linked from notifications: PORTAL_URL/approvals/ID (the server's address or its /portal)
//	  notify:
//	    url: https://hooks.example.com/alter  # one JSON POST per new pending approval
//	    secret_env: ALTER_APPROVAL_WEBHOOK_SECRET  # or secret_file: the HMAC-SHA256 key
type Approvals struct {
	Hold      time.Duration
	Expire    time.Duration
	PortalURL string
	Notify    ApprovalNotify
}

// ApprovalNotify is the webhook told of each new pending approval. The URL
// can itself be a secret (Slack's are): it is never logged.
type ApprovalNotify struct {
	URL        string
	SecretFile string
	SecretEnv  string
}

type wireApprovals struct {
	Hold      *duration `yaml:"hold"`
	Expire    duration  `yaml:"expire"`
	PortalURL string    `yaml:"portal_url"`
	Notify    struct {
		URL        string `yaml:"url"`
		SecretFile string `yaml:"secret_file"`
		SecretEnv  string `yaml:"secret_env"`
	} `yaml:"notify"`
}

func defaultApprovals() Approvals { return Approvals{Hold: 60 * time.Second, Expire: time.Hour} }

func (w wireApprovals) compile(path func(key, p string, required bool) string, bad func(key, format string, args ...any)) Approvals {
	a := defaultApprovals()
	if w.Hold != nil {
		a.Hold = time.Duration(*w.Hold)
	}
	if a.Hold < 0 || a.Hold > 10*time.Minute {
		bad("approvals.hold", "must be a duration between 0s and 10m")
	}
	if w.Expire != 0 {
		a.Expire = time.Duration(w.Expire)
	}
	if a.Expire < time.Minute || a.Expire > 30*24*time.Hour {
		bad("approvals.expire", "must be a duration between 1m and 720h")
	}
	if a.Hold > a.Expire {
		bad("approvals.hold", "is longer than approvals.expire: a held request would outlive its approval")
	}
	if w.PortalURL != "" {
		if u, err := url.Parse(w.PortalURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			bad("approvals.portal_url", "must be an http or https URL")
		}
		a.PortalURL = w.PortalURL
	}
	n := w.Notify
	if n.URL == "" {
		if n.SecretFile != "" || n.SecretEnv != "" {
			bad("approvals.notify", "a secret without a url")
		}
		return a
	}
	if err := notify.CheckURL(n.URL); err != nil {
		// The URL may be a secret: the message never repeats it.
		bad("approvals.notify.url", "%v", err)
	}
	a.Notify.URL = n.URL
	switch {
	case n.SecretFile != "" && n.SecretEnv != "":
		bad("approvals.notify", "give secret_file or secret_env, not both")
	case n.SecretFile != "":
		a.Notify.SecretFile = path("approvals.notify.secret_file", n.SecretFile, true)
	case n.SecretEnv != "":
		a.Notify.SecretEnv = n.SecretEnv
	default:
		bad("approvals.notify", "needs secret_file or secret_env: every message is signed (HMAC-SHA256)")
	}
	return a
}
