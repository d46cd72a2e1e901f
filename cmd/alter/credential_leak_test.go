package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/alter-sidecar/alter/profile"
)

// TestRunFlagsNeverEchoAToken: a profile token passed where a grant id or a
// profile name goes is refused without being printed back on stderr.
func TestRunFlagsNeverEchoAToken(t *testing.T) {
	t.Setenv("ALTER_HOME", t.TempDir())
	t.Setenv(envProfileToken, "")
	tok, _, err := profile.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	secret := tok.Reveal()[len(profile.TokenPrefix):]
	for _, args := range [][]string{
		{"run", "--grant", tok.Reveal(), "--", "true"},
		{"env", "--grant", tok.Reveal()},
		{"run", "--profile", tok.Reveal(), "--", "true"},
		{"env", "--profile", tok.Reveal()},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(args, strings.NewReader(""), &stdout, &stderr); code == 0 {
			t.Errorf("%v: exit 0", args[:2])
		}
		if out := stdout.String() + stderr.String(); strings.Contains(out, secret) {
			t.Errorf("%v: the token is printed back:\n%s", args[:2], out)
		}
	}
}
