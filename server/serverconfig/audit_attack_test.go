package serverconfig

import (
	"strings"
	"testing"
	"time"
)

// TestAuditConfigAttack: what a typo or a hostile edit of server.yaml's
// audit section could do. A retention short enough to empty the trail is
// refused however it is spelt, and an error about a webhook URL never
// repeats the URL (it may carry a token).
func TestAuditConfigAttack(t *testing.T) {
	const token = "tok3n-s3cr3t"
	for _, tc := range []struct {
		name, audit string
		want        string // in the error; "" parses
		retention   time.Duration
	}{
		{"retention zero days", "{retention: 0d}", "shorter than", 0},
		{"retention zero", "{retention: '0'}", "shorter than", 0},
		{"retention negative days", "{retention: -400d}", "is not a duration", 0},
		{"retention negative hours", "{retention: -9600h}", "shorter than", 0},
		{"retention one second short", "{retention: 59m59s}", "shorter than", 0},
		{"retention minutes for days", "{retention: 400m}", "", 400 * time.Minute},
		{"retention days overflowing", "{retention: 99999999999999999999d}", "is not a duration", 0},
		{"retention hours overflowing", "{retention: 9999999999999h}", "is not a duration", 0},
		{"retention the minimum", "{retention: 1h}", "", time.Hour},
		{"url with user information", "{forward: [{name: s, type: webhook, url: 'https://u:" + token + "@siem.example/h', secret_env: K}]}",
			"audit.forward[0].url", 0},
		{"url that does not parse", "{forward: [{name: s, type: webhook, url: 'https://siem%zz.example/h?t=" + token + "', secret_env: K}]}",
			"audit.forward[0].url", 0},
		{"url of another scheme", "{forward: [{name: s, type: webhook, url: 'ftp://siem.example/" + token + "', secret_env: K}]}",
			"audit.forward[0].url", 0},
		{"url given to syslog", "{forward: [{name: s, type: syslog, address: 'a:1', url: 'https://siem.example/" + token + "'}]}",
			"audit.forward[0].url", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte("version: 1\naudit: "+tc.audit+"\n"), "/home", "/etc/alter", func(string) string { return "" })
			if tc.want == "" {
				if err != nil || c.Audit.Retention != tc.retention {
					t.Fatalf("retention %s, %v; want %s", c.Audit.Retention, err, tc.retention)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one naming %q", err, tc.want)
			}
			if strings.Contains(err.Error(), token) {
				t.Fatal("the error repeats the URL's token")
			}
		})
	}
}
