package proxy

import (
	"net/http"
	"strings"
	"testing"

	"github.com/alter-sidecar/alter/inject"
	"github.com/google/uuid"
)

// FuzzReadMarker feeds readMarker header sets in any spelling (the map is
// built without canonicalisation, as goproxy's PreventCanonicalization
// would leave it) and checks that it never guesses: an accepted id is one
// canonical UUID that every marker value names, and after stripping no
// X-Alter-* header is left to reach the upstream.
func FuzzReadMarker(f *testing.F) {
	const id = "0b6f1c9e-3c1a-4d7e-9f2b-8a1c2d3e4f50"
	for _, seed := range []string{
		"X-Alter-Grant: " + id,
		"x-alter-grant: " + id + "\nX-ALTER-GRANT: " + id,
		"X-Alter-Grant: " + id + "\nx-alter-grant: 1b6f1c9e-3c1a-4d7e-9f2b-8a1c2d3e4f50",
		"X-Alter-Grant: " + strings.ToUpper(id),
		"X-Alter-Grant: {" + id + "}",
		"X-Alter-Grant: urn:uuid:" + id,
		"X-Alter-Grant: " + id + ", " + id,
		"X-Alter-Grant:   \t" + id + " ",
		"Connection: X-Alter-Grant\nX-Alter-Grant: " + id,
		"X-Alter-Reason: r\nx-alter-foo: 1\nProxy-Authorization: Basic eA==",
		"X-Alter-Grant:",
		"X-Alter-Grantt: " + id,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, block string) {
		h := http.Header{}
		for _, line := range strings.Split(block, "\n") {
			k, v, ok := strings.Cut(line, ":")
			if ok {
				h[k] = append(h[k], v)
			}
		}
		got, present, err := readMarker(h)
		for i := 0; i < 3; i++ { // map order must not change the answer
			g2, p2, e2 := readMarker(h)
			if g2 != got || p2 != present || (e2 == nil) != (err == nil) {
				t.Fatalf("readMarker is not deterministic: %q %v %v vs %q %v %v", got, present, err, g2, p2, e2)
			}
		}
		var values []string
		for k, vs := range h {
			if strings.EqualFold(k, HeaderGrant) {
				values = append(values, vs...)
			}
		}
		switch {
		case len(values) == 0 && (present || err != nil || got != ""):
			t.Fatalf("no marker, but readMarker says %q %v %v", got, present, err)
		case len(values) > 0 && !present:
			t.Fatalf("marker %q not seen", values)
		case err == nil && present:
			u, perr := uuid.Parse(got)
			if perr != nil || u.String() != got {
				t.Fatalf("accepted a non-canonical id %q", got)
			}
			for _, v := range values {
				if !strings.EqualFold(strings.TrimSpace(v), got) {
					t.Fatalf("accepted %q although another marker says %q", got, v)
				}
			}
		}
		inject.RemoveHopByHop(h)
		inject.RemoveAlterHeaders(h)
		for k := range h {
			if inject.IsAlterHeader(k) || strings.EqualFold(k, "Proxy-Authorization") {
				t.Fatalf("%q survived stripping", k)
			}
		}
	})
}
