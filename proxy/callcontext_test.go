package proxy

import (
	"net/http"
	"strings"
	"testing"

	"github.com/alter-sidecar/alter/audit"
	"github.com/alter-sidecar/alter/errcode"
	"github.com/alter-sidecar/alter/inject"
)

const (
	validTrace  = "4bf92f3577b34da6a3ce929d0e0e4736"
	validParent = "00f067aa0ba902b7"
	validTP     = "00-" + validTrace + "-" + validParent + "-01"
)

func TestReadCallContext(t *testing.T) {
	max := errcode.MaxCallContextBytes
	for _, tt := range []struct {
		name    string
		h       http.Header
		want    callContext
		wantErr string // a substring of the error; "" for none
	}{
		{"none", typicalRequestHeader(), callContext{}, ""},
		{"all three and a traceparent",
			http.Header{"X-Alter-Run-Id": {"run-1"}, "X-Alter-Thread-Id": {"t-9"}, "X-Alter-Tool": {"search"}, "Traceparent": {validTP}},
			callContext{runID: "run-1", threadID: "t-9", tool: "search", traceID: validTrace}, ""},
		{"any spelling of the names",
			http.Header{"x-alter-run-id": {"r"}, "X-ALTER-THREAD-ID": {"t"}, "x-Alter-tOOL": {"k"}, "TRACEPARENT": {validTP}},
			callContext{runID: "r", threadID: "t", tool: "k", traceID: validTrace}, ""},
		{"exactly the cap", http.Header{"X-Alter-Run-Id": {strings.Repeat("r", max)}},
			callContext{runID: strings.Repeat("r", max)}, ""},
		{"one byte over the cap", http.Header{"X-Alter-Tool": {strings.Repeat("t", max+1)}},
			callContext{}, "X-Alter-Tool is longer than 128 bytes"},
		{"over the cap in multi-byte runes", http.Header{"X-Alter-Thread-Id": {strings.Repeat("é", max/2+1)}},
			callContext{}, "X-Alter-Thread-Id is longer than 128 bytes"},
		{"surrounding space trimmed", http.Header{"X-Alter-Run-Id": {"  run-1\t"}}, callContext{runID: "run-1"}, ""},
		{"control characters kept for the record to escape", http.Header{"X-Alter-Tool": {"a\x01b\tc"}},
			callContext{tool: "a\x01b\tc"}, ""},
		{"invalid UTF-8 kept for the record to escape", http.Header{"X-Alter-Tool": {"a\xff\xfeb"}},
			callContext{tool: "a\xff\xfeb"}, ""},
		{"empty value ignored", http.Header{"X-Alter-Run-Id": {"", "  "}}, callContext{}, ""},
		{"the same value twice", http.Header{"X-Alter-Run-Id": {"r", "r"}, "x-alter-run-id": {"r"}}, callContext{runID: "r"}, ""},
		{"two different values", http.Header{"X-Alter-Run-Id": {"r1", "r2"}}, callContext{}, "two different X-Alter-Run-Id values"},
		{"two different values under two spellings", http.Header{"X-Alter-Tool": {"tool-one"}, "x-alter-tool": {"tool-two"}},
			callContext{}, "two different X-Alter-Tool values"},
		{"a near name is not ours", http.Header{"X-Alter-Run-Ids": {"r"}, "X-Alter-Tools": {"t"}}, callContext{}, ""},
		{"two traceparents: not recorded", http.Header{"Traceparent": {validTP, validTP}}, callContext{}, ""},
		{"an invalid traceparent: not recorded", http.Header{"Traceparent": {"00-" + validTrace + "-" + validParent}}, callContext{}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readCallContext(tt.h)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("error %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error %v, want %q", err, tt.wantErr)
			case got != tt.want:
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			if err != nil {
				for _, vs := range tt.h {
					for _, v := range vs {
						if v != "" && strings.Contains(err.Error(), v) {
							t.Fatalf("the error %q repeats the value", err)
						}
					}
				}
			}
		})
	}
}

func TestTraceID(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		want     string // "" means invalid
	}{
		{"version 00", validTP, validTrace},
		{"flags 00", "00-" + validTrace + "-" + validParent + "-00", validTrace},
		{"any flags", "00-" + validTrace + "-" + validParent + "-ff", validTrace},
		{"empty", "", ""},
		{"one short", validTP[:len(validTP)-1], ""},
		{"version 00 with more", validTP + "-extra", ""},
		{"version ff", "ff" + validTP[2:], ""},
		{"a later version", "01" + validTP[2:], validTrace},
		{"a later version with more fields", "cc" + validTP[2:] + "-what-comes", validTrace},
		{"a later version, no dash after the flags", "cc" + validTP[2:] + "x", ""},
		{"upper-case hex", "00-" + strings.ToUpper(validTrace) + "-" + validParent + "-01", ""},
		{"upper-case version", "0A" + validTP[2:], ""},
		{"all-zero trace id", "00-" + strings.Repeat("0", 32) + "-" + validParent + "-01", ""},
		{"all-zero parent id", "00-" + validTrace + "-" + strings.Repeat("0", 16) + "-01", ""},
		{"not hex in the trace id", "00-" + validTrace[:31] + "g-" + validParent + "-01", ""},
		{"not hex in the parent id", "00-" + validTrace + "-" + validParent[:15] + "z-01", ""},
		{"not hex in the flags", "00-" + validTrace + "-" + validParent + "-0x", ""},
		{"wrong separator", "00_" + validTrace + "-" + validParent + "-01", ""},
		{"short trace id", "00-" + validTrace[:31] + "-" + validParent + "0-01", ""},
		{"a control character", "00-" + validTrace[:31] + "\n-" + validParent + "-01", ""},
		{"surrounding space", " " + validTP, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := traceID(tt.in)
			if got != tt.want || ok != (tt.want != "") {
				t.Fatalf("traceID(%q) = %q, %v; want %q", tt.in, got, ok, tt.want)
			}
		})
	}
}

// FuzzTraceID: whatever the input, an accepted trace id is 32 lower-case
// hex digits, not all zero, taken from the value itself.
func FuzzTraceID(f *testing.F) {
	for _, s := range []string{validTP, "ff" + validTP[2:], "cc" + validTP[2:] + "-x", "", "00-", validTP + "-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, ok := traceID(s)
		if !ok {
			if id != "" {
				t.Fatalf("rejected %q but returned %q", s, id)
			}
			return
		}
		if len(id) != 32 || !lowerHex(id) || allZeros(id) || s[3:35] != id {
			t.Fatalf("accepted %q with trace id %q", s, id)
		}
	})
}

// The header path stays allocation-free: without call-context headers,
// and with valid ones.
func TestReadCallContextAllocatesNothing(t *testing.T) {
	with := typicalRequestHeader()
	with["X-Alter-Run-Id"] = []string{"run-1"}
	with["X-Alter-Thread-Id"] = []string{"thread-1"}
	with["X-Alter-Tool"] = []string{"search"}
	with["Traceparent"] = []string{validTP}
	for name, h := range map[string]http.Header{"none": typicalRequestHeader(), "all": with} {
		if n := testing.AllocsPerRun(100, func() {
			if _, err := readCallContext(h); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("%s: %v allocations per call", name, n)
		}
	}
}

func TestCallContextLimitMatchesAudit(t *testing.T) {
	if errcode.MaxCallContextBytes != audit.MaxContextBytes {
		t.Fatalf("errcode.MaxCallContextBytes %d, audit.MaxContextBytes %d", errcode.MaxCallContextBytes, audit.MaxContextBytes)
	}
}

// TestCallContextReachesTheAuditOnly: the call-context headers land in the
// audit record and never upstream; traceparent reaches the upstream as it
// was sent, valid or not, and only a valid one's trace id is recorded. A
// value over the cap is refused before anything is dialled.
func TestCallContextReachesTheAuditOnly(t *testing.T) {
	e := newEnv(t)
	up := e.tlsUpstream("api.example.test", nil)
	plain := e.plainUpstream("plain.example.test:80")
	e.addGrant(grantA, bearer, inject.Fields{"token": sentinel}, "api.example.test")
	badTP := "00-" + validTrace + "-" + validParent + "-01-extra"
	for _, tt := range []struct {
		name        string
		url         string
		header      http.Header
		status      int
		run, tool   string
		thread      string
		traceID     string
		traceparent string // what the upstream must see; "" none
		recorded    bool
	}{
		{"grant use with all of it", "https://api.example.test/v1",
			http.Header{"X-Alter-Grant": {grantA}, "X-Alter-Run-Id": {"run-7"}, "X-Alter-Thread-Id": {"th-1"}, "X-Alter-Tool": {"web_search"}, "Traceparent": {validTP}},
			200, "run-7", "web_search", "th-1", validTrace, validTP, true},
		{"an invalid traceparent is forwarded, not recorded", "https://api.example.test/v1",
			http.Header{"X-Alter-Grant": {grantA}, "X-Alter-Tool": {"t"}, "Traceparent": {badTP}},
			200, "", "t", "", "", badTP, true},
		{"a tab in a value is escaped in the record", "https://api.example.test/v1",
			http.Header{"X-Alter-Grant": {grantA}, "X-Alter-Run-Id": {"a\tb"}},
			200, "a\tb", "", "", "", "", true},
		{"a passthrough request: stripped, nothing recorded", "http://plain.example.test/",
			http.Header{"X-Alter-Run-Id": {strings.Repeat("r", 300)}, "X-Alter-Tool": {"t"}, "Traceparent": {validTP}},
			200, "", "", "", "", validTP, false},
		{"129 bytes refused", "https://api.example.test/v1",
			http.Header{"X-Alter-Grant": {grantA}, "X-Alter-Run-Id": {strings.Repeat("r", 129)}, "X-Alter-Tool": {"t"}},
			400, "", "", "", "", "", true}, // nothing of a refused context is recorded
	} {
		t.Run(tt.name, func(t *testing.T) {
			n := len(e.audit.Records())
			hits := up.hits.Load() + plain.hits.Load()
			resp, body := e.do("GET", tt.url, tt.header)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if tt.status != 200 {
				if resp.Header.Get(HeaderError) != CodeBadRequest || !strings.Contains(string(body), errcode.HeaderRunID) ||
					strings.Contains(string(body), "rrrr") {
					t.Fatalf("refusal %q: %s", resp.Header.Get(HeaderError), body)
				}
				if up.hits.Load()+plain.hits.Load() != hits {
					t.Fatal("a refused request reached an upstream")
				}
			} else {
				v := decodeView(t, body)
				for k := range v.Headers {
					if inject.IsAlterHeader(k) {
						t.Errorf("the upstream received %s", k)
					}
				}
				if got := v.Headers["Traceparent"]; tt.traceparent != "" && (len(got) != 1 || got[0] != tt.traceparent) {
					t.Errorf("the upstream received traceparent %q, want %q", got, tt.traceparent)
				}
			}
			if !tt.recorded {
				if len(e.audit.Records()) != n {
					t.Fatalf("a passthrough request was recorded")
				}
				return
			}
			rec := e.waitAudit(n + 1)[n]
			if rec.RunID != tt.run || rec.Tool != tt.tool || rec.ThreadID != tt.thread || rec.TraceID != tt.traceID {
				t.Fatalf("record call context = %q %q %q %q", rec.RunID, rec.ThreadID, rec.Tool, rec.TraceID)
			}
			if tt.status == 200 && rec.Decision != audit.DecisionAllow || tt.status != 200 && rec.Decision != audit.DecisionDeny {
				t.Fatalf("decision %q", rec.Decision)
			}
		})
	}
	e.checkLogsAndAudit()
}

// With proxy credentials: a grant use records the context and refuses a
// value over the cap; a request that passes through is not refused for
// it (its X-Alter-* headers are stripped unread, as without credentials).
func TestCallContextWithProxyCredentials(t *testing.T) {
	e := newCredEnv(t)
	long := strings.Repeat("r", 129)
	for _, tt := range []struct {
		name, target string
		header       http.Header
		status       int
		code         string
	}{
		{"grant use", "https://api.github.com/user", http.Header{"X-Alter-Run-Id": {"run-1"}, "X-Alter-Tool": {"gh"}}, 200, ""},
		{"grant use, too long", "https://api.github.com/user", http.Header{"X-Alter-Run-Id": {long}}, 400, CodeBadRequest},
		{"passthrough, too long", "http://plain.example.test/", http.Header{"X-Alter-Run-Id": {long}}, 200, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			n := len(e.audit.Records())
			r := e.request(t, e.clientAs(e.openTok), tt.target, tt.header)
			if r.status != tt.status || r.code != tt.code {
				t.Fatalf("status %d %q, want %d %q", r.status, r.code, tt.status, tt.code)
			}
			if tt.status == 400 && r.hit != nil {
				t.Fatal("a refused request reached an upstream")
			}
			if tt.target == "http://plain.example.test/" {
				return
			}
			rec := e.waitAudit(n + 1)[n]
			if rec.Profile != "open" || rec.GrantID != grantGH {
				t.Fatalf("record profile %q grant %q", rec.Profile, rec.GrantID)
			}
			if tt.status == 200 && (rec.RunID != "run-1" || rec.Tool != "gh") {
				t.Fatalf("record call context %q %q", rec.RunID, rec.Tool)
			}
		})
	}
}
