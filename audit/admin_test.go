package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func adminEvent(i int) AdminEvent {
	return AdminEvent{
		Time:  time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC).Add(time.Duration(i) * time.Second),
		Event: EventGrantRevoke, EventID: fmt.Sprintf("ev-%03d", i), Outcome: OutcomeSucceeded,
		Actor: "ops@host", GrantID: "g-1", PolicyBefore: map[string]any{"hosts": []string{"api.example.com"}},
		PolicyAfter: map[string]any{"hosts": []string{"api.example.com"}, "revoked": true},
		Detail:      map[string]string{"b": "2", "a": "1"},
	}
}

// An admin event line carries the fields a reader needs, in a fixed
// order, and chains like a grant use.
func TestAdminEventLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "admin-audit.log")
	if err := AppendAdmin(path, adminEvent(1)); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(bytes.TrimSpace(raw), &got); err != nil {
		t.Fatalf("line is not JSON: %v\n%s", err, raw)
	}
	for k, want := range map[string]any{
		FieldMessage: MessageAdmin, FieldEvent: EventGrantRevoke, FieldOutcome: OutcomeSucceeded,
		FieldActor: "ops@host", FieldGrantID: "g-1", FieldEventID: "ev-001", FieldSeq: float64(1),
	} {
		if got[k] != want {
			t.Errorf("%s = %v, want %v", k, got[k], want)
		}
	}
	if after, _ := got[FieldPolicyAfter].(map[string]any); after["revoked"] != true {
		t.Errorf("policy_after = %v", got[FieldPolicyAfter])
	}
	if !bytes.Contains(raw, []byte(`"detail":{"a":"1","b":"2"}`)) {
		t.Errorf("detail keys not sorted: %s", raw)
	}
	if _, err := Verify(path); err != nil {
		t.Fatal(err)
	}
}

// Writers that each open, append and close the log (one per CLI process)
// wait for one another and keep one unbroken chain.
func TestAppendAdminConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "admin-audit.log")
	const writers, each = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				errs <- AppendAdmin(path, adminEvent(w*each+i))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	rep, err := Verify(path)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Records != writers*each || !rep.HeadChecked {
		t.Fatalf("verified %d records (head checked %v), want %d", rep.Records, rep.HeadChecked, writers*each)
	}
}

// An edited admin record fails verification, as an edited grant use does.
func TestVerifyCatchesEditedAdminRecord(t *testing.T) {
	for _, tc := range []struct {
		name         string
		from, to     string
		wantSeq      uint64
		editLastLine bool
	}{
		{name: "actor of a middle record", from: `"actor":"ops@host"`, to: `"actor":"someone"`, wantSeq: 1},
		{name: "outcome of the last record", from: `"outcome":"succeeded"`, to: `"outcome":"failed"`, wantSeq: 3, editLastLine: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "admin-audit.log")
			for i := 1; i <= 3; i++ {
				if err := AppendAdmin(path, adminEvent(i)); err != nil {
					t.Fatal(err)
				}
			}
			raw, _ := os.ReadFile(path)
			lines := bytes.SplitAfter(raw, []byte("\n"))
			n := 0
			if tc.editLastLine {
				n = 2
			}
			lines[n] = bytes.Replace(lines[n], []byte(tc.from), []byte(tc.to), 1)
			if err := os.WriteFile(path, bytes.Join(lines, nil), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Verify(path)
			var p *Problem
			if !errors.As(err, &p) || p.Kind != ProblemEdited || p.Seq != tc.wantSeq {
				t.Fatalf("Verify = %v, want record %d edited", err, tc.wantSeq)
			}
			if err := AppendAdmin(path, adminEvent(4)); err == nil && tc.editLastLine {
				t.Fatal("appending after an edited last record succeeded")
			}
		})
	}
}
