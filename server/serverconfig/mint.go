package serverconfig

import (
	"fmt"
	"net/netip"
	"sort"

	"github.com/alter-sidecar/alter/policy"
)

// Mint is where the server may send the long-lived secrets of minted
// credentials (its token requests, server/api/mint.go). By default only to
// token endpoints on public addresses, verified against the system roots:
// a name that resolves inside the server's network gets no client secret.
// An operator whose issuer is internal (Keycloak, an on-premises Okta
// gateway) opens exactly that: a pinned name, a private range, a CA.
type Mint struct {
	// Resolve pins a token endpoint's host:port to an ip:port, like curl
	// --resolve; a pinned address is the operator's choice and is dialled
	// whatever its range.
	Resolve map[string]string
	// AllowPrivate lists internal ranges token endpoints may be on.
	AllowPrivate []netip.Prefix
	// CAFile holds PEM certificates trusted for token endpoints besides
	// the system roots.
	CAFile string
}

type wireMint struct {
	Resolve      map[string]string `yaml:"resolve"`
	AllowPrivate []string          `yaml:"allow_private"`
	CAFile       string            `yaml:"ca_file"`
}

// compileMint checks the mint section; errors name the key.
func compileMint(w wireMint, abs func(string) string) (Mint, error) {
	m := Mint{CAFile: abs(w.CAFile)}
	keys := make([]string, 0, len(w.Resolve))
	for k := range w.Resolve {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the first bad entry named is the same every time
	for _, k := range keys {
		from, to, err := policy.ParsePin(k, w.Resolve[k])
		if err != nil {
			return Mint{}, fmt.Errorf("mint.resolve[%q]: %v", k, err)
		}
		if m.Resolve == nil {
			m.Resolve = map[string]string{}
		}
		if _, dup := m.Resolve[from]; dup {
			return Mint{}, fmt.Errorf("mint.resolve[%q]: the same name is pinned twice", k)
		}
		m.Resolve[from] = to
	}
	for i, s := range w.AllowPrivate {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return Mint{}, fmt.Errorf("mint.allow_private[%d]: %q is not a CIDR such as 10.1.0.0/16", i, s)
		}
		m.AllowPrivate = append(m.AllowPrivate, p.Masked())
	}
	return m, nil
}
