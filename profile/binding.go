package profile

import (
	"fmt"

	"github.com/alter-sidecar/alter/policy"
)

// Member is one grant of a profile with the destinations its own policy
// allows (for a clone, its own destinations, which lie within its
// parent's). A revoked or expired grant keeps its destinations: requests
// to them still pick it and get the store's "grant unavailable" answer,
// not a passthrough.
type Member struct {
	GrantID      string
	Destinations []policy.Destination
}

// CheckOverlap returns an error wrapping ErrOverlap that names the first two
// destinations of different members that some request reaches both of
// (policy.Overlaps), e.g. "grant A's https://*.example.com:443 overlaps
// grant B's https://api.example.com:443".
func CheckOverlap(members []Member) error {
	for i, a := range members {
		for _, b := range members[i+1:] {
			if a.GrantID == b.GrantID {
				return fmt.Errorf("%w: grant %s is listed twice", ErrOverlap, a.GrantID)
			}
			for _, da := range a.Destinations {
				for _, db := range b.Destinations {
					if policy.Overlaps(da, db) {
						return fmt.Errorf("%w: grant %s's %s overlaps grant %s's %s (a request to a host both cover could use either)",
							ErrOverlap, a.GrantID, da, b.GrantID, db)
					}
				}
			}
		}
	}
	return nil
}

// Binding is what a request's proxy credentials selected, resolved: the
// grants it may use and whether it confines the client to them. It is
// immutable. A grant id in the proxy credentials is a Binding of one
// member without a name.
type Binding struct {
	Name          string // the profile's name; "" for a single grant
	DenyUnmatched bool
	members       []Member
}

// NewBinding returns the binding of a profile (name non-empty) or of one
// grant. members is copied.
func NewBinding(name string, denyUnmatched bool, members []Member) *Binding {
	return &Binding{Name: name, DenyUnmatched: denyUnmatched, members: append([]Member(nil), members...)}
}

// Select returns the grant whose destinations reach scheme://host:port
// (normalised), or "" when none does. Two that do is ErrAmbiguous: the
// caller must refuse rather than pick one.
func (b *Binding) Select(scheme, host string, port int) (string, error) {
	found := ""
	for _, m := range b.members {
		for _, d := range m.Destinations {
			if !d.Reaches(scheme, host, port) {
				continue
			}
			if found != "" && found != m.GrantID {
				return "", ErrAmbiguous
			}
			found = m.GrantID
		}
	}
	return found, nil
}

// Covers reports whether a request inside a CONNECT tunnel to host:port
// could select a grant, over TLS or in plain text: the proxy must then
// terminate the tunnel.
func (b *Binding) Covers(host string, port int) bool {
	for _, m := range b.members {
		for _, d := range m.Destinations {
			if d.Reaches("https", host, port) || d.Reaches("http", host, port) {
				return true
			}
		}
	}
	return false
}
