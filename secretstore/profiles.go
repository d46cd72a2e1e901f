package secretstore

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/alter-sidecar/alter/profile"
)

// Profiles: a named set of grants an application selects with one token
// in its proxy credentials (package profile). The file store keeps them in
// a file of their own beside the grants file (ProfilesPath), so a proxy of
// an earlier version, which reads the grants file strictly, keeps working
// when profiles are added. The file has the grants file's guarantees: every
// record carries an HMAC under the master keyring (kind "profile"), writers
// take the grants file's lock (a profile names grants, and its overlap
// check reads them) and replace the file by rename, and the proxy reads an
// immutable snapshot that the same poll refreshes, so a revocation or a
// token rotation takes effect within a poll interval without a restart.
//
//	{"version": 1, "profiles": [ {profile.Profile fields..., "token_sha256": "<base64>", "mac": {...}} ]}
//
// Only the token's SHA-256 is stored. Tokens are looked up by comparing the
// presented token's digest with every stored digest in constant time.

// ProfileResolver is what the proxy needs to honour profiles in proxy
// credentials. The file store and the remote store (secretstore/remote)
// implement it; with a store that does not, every profile token is
// unknown.
type ProfileResolver interface {
	// ResolveProfileToken returns the binding of the profile whose token
	// has this digest. Unknown and revoked profiles are one error wrapping
	// ErrGrantUnavailable (a client must not tell them apart, nor from an
	// unknown grant); an unreadable or tampered profile (or one of its
	// grants' records) wraps ErrStoreUnavailable.
	ResolveProfileToken(ctx context.Context, token profile.Digest, now time.Time) (*profile.Binding, error)
	// ResolveProfileName is ResolveProfileToken for a profile named by the
	// proxy's config (a proxy_auth client's profile), with the same errors.
	ResolveProfileName(ctx context.Context, name string, now time.Time) (*profile.Binding, error)
}

// ProfileAdmin is what the command line needs to manage profiles. Errors
// wrap profile.ErrNotFound for an unknown profile name, ErrNotFound for an
// unknown grant id, ErrInvalid (and profile.ErrOverlap) for a change that
// is refused; nothing is written then.
type ProfileAdmin interface {
	// CreateProfile makes a profile and returns it with its token, which
	// is shown once: only its digest is stored.
	CreateProfile(ctx context.Context, p NewProfile) (profile.Profile, profile.Token, error)
	// UpdateProfile changes a profile's grants or its deny-unmatched flag.
	UpdateProfile(ctx context.Context, name string, c ProfileChange) (profile.Profile, error)
	// RevokeProfile makes the profile's token unusable for good.
	RevokeProfile(ctx context.Context, name string) error
	// RotateProfileToken replaces the token; the old one stops working.
	RotateProfileToken(ctx context.Context, name string) (profile.Token, error)
	ListProfiles(ctx context.Context) ([]ProfileInfo, error)
	GetProfile(ctx context.Context, name string) (ProfileInfo, error)
}

// NewProfile asks for a profile.
type NewProfile struct {
	Name          string
	Grants        []string
	DenyUnmatched bool
}

// ProfileChange changes a profile: nil fields are left as they are.
type ProfileChange struct {
	Grants        []string
	DenyUnmatched *bool
}

// ProfileInfo is what listings show of a profile: never its token.
type ProfileInfo struct {
	profile.Profile
	Status  string          `json:"status"` // StatusActive, StatusRevoked or StatusUnusable
	Problem string          `json:"problem,omitempty"`
	Members []ProfileMember `json:"members"`
}

// ProfileMember is one grant of a profile, as listings show it.
type ProfileMember struct {
	GrantID      string   `json:"grant_id"`
	Name         string   `json:"name,omitempty"`
	Status       string   `json:"status"` // the grant's status, or "missing"
	Destinations []string `json:"destinations"`
}

// StatusMissing is a profile member's status when its grant is not in the
// store (deleted).
const StatusMissing = "missing"

// ProfilesPath is where the file store at storePath keeps its profiles:
// beside it, "grants.json" -> "grants.profiles.json".
func ProfilesPath(storePath string) string {
	ext := filepath.Ext(storePath)
	return strings.TrimSuffix(storePath, ext) + ".profiles" + ext
}

const kindProfile = "profile"

// profilesFile is the profiles file's envelope.
type profilesFile struct {
	Version  int               `json:"version"`
	Profiles []json.RawMessage `json:"profiles"`
}

// profileRecord is a profile as stored.
type profileRecord struct {
	profile.Profile
	TokenSHA256 []byte     `json:"token_sha256"`
	MAC         *recordMAC `json:"mac,omitempty"`
}

func (r profileRecord) canonical() ([]byte, error) {
	r.MAC = nil
	return canonicalJSON(r)
}

func (k *Keyring) signProfile(rec profileRecord) (json.RawMessage, error) {
	rec.MAC = nil
	canon, err := rec.canonical()
	if err != nil {
		return nil, err
	}
	rec.MAC = k.sign(kindProfile, canon)
	return json.Marshal(rec)
}

func (k *Keyring) openProfile(raw json.RawMessage) (profileRecord, error) {
	var rec profileRecord
	if err := decodeRecord(raw, &rec); err != nil {
		return rec, err
	}
	canon, err := rec.canonical()
	if err != nil {
		return rec, fmt.Errorf("malformed record: %v", err)
	}
	if err := k.verify(kindProfile, canon, rec.MAC); err != nil {
		return rec, err
	}
	if len(rec.TokenSHA256) != len(profile.Digest{}) {
		return rec, errors.New("the token digest is not a SHA-256")
	}
	return rec, nil
}

// decodeProfilesFile parses the envelope strictly, as decodeStoreFile does.
func decodeProfilesFile(data []byte) (*profilesFile, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f profilesFile
	if err := dec.Decode(&f); err != nil {
		return nil, describeJSONError(data, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%s: data after the JSON object", position(data, dec.InputOffset()))
	}
	if f.Version != fileVersion {
		return nil, fmt.Errorf("version %d is not supported (this alter reads version %d)", f.Version, fileVersion)
	}
	return &f, nil
}

func (f *profilesFile) encode() ([]byte, error) {
	out, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// profileSnapshot is the profiles file checked and indexed, immutable.
type profileSnapshot struct {
	err    error // non-nil: every profile is unavailable; wraps ErrStoreUnavailable
	file   fileID
	byName map[string]*profileEntry
	list   []*profileEntry
	// tokens are the digests of trusted records, scanned in full for each
	// lookup (see findToken).
	tokens   []*profileEntry
	problems []error
}

// profileEntry is one profile record, checked.
type profileEntry struct {
	p       profile.Profile
	digest  profile.Digest
	problem error // the record failed its checks: not trusted, never matched by token
	// last is the binding built for the grants snapshot it names.
	last atomic.Pointer[lastBinding]
}

type lastBinding struct {
	grants *snapshot
	b      *profile.Binding
}

func buildProfileSnapshot(f *profilesFile, keys *Keyring, path string, id fileID) *profileSnapshot {
	ps := &profileSnapshot{file: id, byName: map[string]*profileEntry{}}
	for i, raw := range f.Profiles {
		rec, err := keys.openProfile(raw)
		e := &profileEntry{p: rec.Profile, problem: err}
		if err == nil {
			copy(e.digest[:], rec.TokenSHA256)
		}
		if e.p.Name == "" {
			var r struct {
				Name string `json:"name"`
			}
			_ = json.Unmarshal(raw, &r)
			e.p.Name = r.Name
		}
		if prev, dup := ps.byName[e.p.Name]; dup {
			prev.problem = errors.New("two profile records have this name")
			e = prev
		} else {
			ps.byName[e.p.Name] = e
			ps.list = append(ps.list, e)
		}
		if e.problem != nil {
			ps.problems = append(ps.problems, fmt.Errorf("profiles %s: profiles[%d] (name %q): %w", path, i, e.p.Name, e.problem))
		}
	}
	for _, e := range ps.list {
		if e.problem == nil {
			ps.tokens = append(ps.tokens, e)
		}
	}
	return ps
}

// loadProfiles reads the profiles file; a missing file is no profiles.
func (s *FileStore) loadProfiles() *profileSnapshot {
	path := s.profilesPath
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return &profileSnapshot{byName: map[string]*profileEntry{}}
	}
	if err != nil {
		return &profileSnapshot{err: fmt.Errorf("%w: profiles: %v", ErrStoreUnavailable, err), file: statID(path)}
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return &profileSnapshot{err: fmt.Errorf("%w: profiles: %v", ErrStoreUnavailable, err)}
	}
	id := idOf(fi)
	data, err := io.ReadAll(io.LimitReader(f, maxStoreFileSize+1))
	if err == nil && len(data) > maxStoreFileSize {
		err = fmt.Errorf("larger than %d bytes", maxStoreFileSize)
	}
	var pf *profilesFile
	if err == nil {
		pf, err = decodeProfilesFile(data)
	}
	if err != nil {
		return &profileSnapshot{err: fmt.Errorf("%w: profiles %s: %v", ErrStoreUnavailable, path, err), file: id}
	}
	return buildProfileSnapshot(pf, s.keys, path, id)
}

// refreshProfilesLocked reloads the profiles snapshot if its file changed.
// The caller holds reloadMu.
func (s *FileStore) refreshProfilesLocked(force bool) {
	if cur := s.profiles.Load(); !force && cur != nil && statID(s.profilesPath) == cur.file {
		return
	}
	s.profiles.Store(s.loadProfiles())
}

// constantTimeCompare is subtle.ConstantTimeCompare; tests count calls.
var constantTimeCompare = subtle.ConstantTimeCompare

// findToken returns the trusted profile whose token digest is d, or nil.
// Every stored digest is compared, in constant time, whatever matches, so
// the time taken says nothing about which profile, if any, matched.
func (ps *profileSnapshot) findToken(d profile.Digest) *profileEntry {
	var found *profileEntry
	for _, e := range ps.tokens {
		if constantTimeCompare(e.digest[:], d[:]) == 1 && found == nil {
			found = e
		}
	}
	return found
}

// ResolveProfileToken implements ProfileResolver.
func (s *FileStore) ResolveProfileToken(_ context.Context, d profile.Digest, _ time.Time) (*profile.Binding, error) {
	ps := s.profiles.Load()
	if ps.err != nil {
		return nil, ps.err
	}
	e := ps.findToken(d)
	if e == nil {
		return nil, ErrGrantUnavailable
	}
	return s.bind(e)
}

// ResolveProfileName implements ProfileResolver.
func (s *FileStore) ResolveProfileName(_ context.Context, name string, _ time.Time) (*profile.Binding, error) {
	ps := s.profiles.Load()
	if ps.err != nil {
		return nil, ps.err
	}
	e := ps.byName[name]
	if e == nil {
		return nil, ErrGrantUnavailable
	}
	return s.bind(e)
}

// bind builds the profile's binding against the current grants snapshot:
// each grant's own destinations, revoked and expired grants included (so
// their hosts get the common 403, not a passthrough). A grant no longer in
// the store reaches nothing; a grant record that fails its checks makes
// the whole profile unavailable, as it would a clone.
func (s *FileStore) bind(e *profileEntry) (*profile.Binding, error) {
	if e.problem != nil {
		return nil, fmt.Errorf("%w: profile %s: %v", ErrStoreUnavailable, e.p.Name, e.problem)
	}
	if e.p.Revoked {
		return nil, ErrGrantUnavailable
	}
	snap := s.snap.Load()
	if snap.err != nil {
		return nil, snap.err
	}
	if last := e.last.Load(); last != nil && last.grants == snap {
		return last.b, nil
	}
	members, err := membersOf(snap, e.p.Grants)
	if err != nil {
		return nil, fmt.Errorf("%w: profile %s: %v", ErrStoreUnavailable, e.p.Name, err)
	}
	b := profile.NewBinding(e.p.Name, e.p.DenyUnmatched, members)
	e.last.Store(&lastBinding{grants: snap, b: b})
	return b, nil
}

// membersOf returns the members for grant ids in snap; missing grants are
// left out, untrusted ones are an error.
func membersOf(snap *snapshot, ids []string) ([]profile.Member, error) {
	members := make([]profile.Member, 0, len(ids))
	for _, id := range ids {
		g := snap.grants[id]
		if g == nil {
			continue
		}
		if g.own != nil || g.policy == nil {
			return nil, fmt.Errorf("grant %s: %v", id, g.own)
		}
		members = append(members, profile.Member{GrantID: id, Destinations: g.policy.Destinations()})
	}
	return members, nil
}

var (
	_ ProfileResolver = (*FileStore)(nil)
	_ ProfileAdmin    = (*FileStore)(nil)
)
