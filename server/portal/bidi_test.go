package portal

import (
	"context"
	"strings"
	"testing"

	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/secretstore"
)

// TestBidiControlsEscaped: a grant name with a right-to-left override is
// shown escaped (\u202e) on the list and detail pages, never raw: it
// would reorder the text around it. (It was rendered as is.)
func TestBidiControlsEscaped(t *testing.T) {
	fake := newFake()
	g, err := fake.AddSecret(context.Background(), secretstore.NewSecret{Spec: inject.Spec{Type: inject.TypeBearer},
		Fields: inject.Fields{"token": sentinel}, Name: "stripe\u202emoc.live\u2066", Labels: []string{"a\u200fb"},
		Policy: policy.Spec{Destinations: []string{"api.example.com"}}}, "billing")
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, fake, false, nil)
	h.login()
	for _, path := range []string{Prefix + "/grants", Prefix + "/grants/" + g.ID} {
		_, body := h.get(path)
		if strings.ContainsFunc(body, isBidi) {
			t.Errorf("%s has a raw bidi control", path)
		}
		if !strings.Contains(body, `stripe\u202emoc.live\u2066`) {
			t.Errorf("%s does not show the name escaped", path)
		}
	}
	if got := string(escapeBidi([]byte("plain ascii and ünïcode"))); got != "plain ascii and ünïcode" {
		t.Errorf("clean text changed: %q", got)
	}
}
