package remote

import (
	"fmt"
	"time"

	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/secretstore"
	"github.com/alter-sidecar/alter/server/wire"
)

// build compiles a Resolution the way the file store compiles a record
// (snapshot.go): policy and injector compiled once, fields checked
// against the injector, so the hot path only reads. A Resolution that
// does not compile is the server's fault, not the client's: it is
// ErrStoreUnavailable, never a usable grant. Errors never quote values.
func build(grantID string, w wire.Resolution) (*secretstore.Resolved, time.Time, error) {
	if w.Grant.ID != grantID {
		return nil, time.Time{}, fmt.Errorf("%w: the server answered for grant %q when asked for %q", secretstore.ErrStoreUnavailable, w.Grant.ID, grantID)
	}
	pol, err := policy.Compile(w.Policy)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("%w: grant %s: policy from the server does not compile: %v", secretstore.ErrStoreUnavailable, grantID, err)
	}
	inj, err := inject.Compile(w.Injection)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("%w: grant %s: injection from the server does not compile: %v", secretstore.ErrStoreUnavailable, grantID, err)
	}
	// The server keeps a minted credential's secret, and mints (mint.go):
	// such a grant comes without fields.
	_, minted := inj.Mint()
	if !minted || len(w.Fields) > 0 {
		if err := inj.CheckFields(w.Fields); err != nil {
			return nil, time.Time{}, fmt.Errorf("%w: grant %s: secret fields do not fit its injection: %v", secretstore.ErrStoreUnavailable, grantID, err)
		}
	}
	sec := w.Grant.Secret
	sec.Spec = w.Injection
	if w.SecretVersion != 0 {
		sec.Version = w.SecretVersion
	}
	var notAfter time.Time
	if w.NotAfter != nil {
		notAfter = *w.NotAfter
	}
	// The server sends one effective spec, carrying the grant's own limits:
	// its chain here is the grant alone.
	return &secretstore.Resolved{Grant: w.Grant.Grant, Secret: sec, Policy: pol, Chain: []string{grantID}, Injector: inj, Fields: w.Fields}, notAfter, nil
}
