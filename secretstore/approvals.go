package secretstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/alter-sidecar/alter/approval"
)

// Approvals: requests held for a person's decision (package approval). The
// file store keeps them in a file of their own beside the grants file
// (ApprovalsPath), written by the proxies that hold requests and by the
// CLI that decides them. The file has the grants file's guarantees: every
// record carries an HMAC under the master keyring (kind "approval"), so
// nobody who can write the home but lacks the key can approve a request,
// and writers take the grants file's lock and replace the file by rename,
// so several proxies and CLIs change it safely. The approval package's
// Book applies the rules; this file only loads, checks and saves it.
//
//	{"version": 1, "approvals": [ {approval.Approval fields..., "mac": {...}} ]}

// ApprovalsPath is where the file store at storePath keeps its approvals:
// "grants.json" -> "grants.approvals.json".
func ApprovalsPath(storePath string) string {
	ext := filepath.Ext(storePath)
	return strings.TrimSuffix(storePath, ext) + ".approvals" + ext
}

const kindApproval = "approval"

// ApprovalPoll is how often Wait looks at the approvals file while a
// request is held: a decision reaches the held request within it.
const ApprovalPoll = 100 * time.Millisecond

type approvalsFile struct {
	Version   int               `json:"version"`
	Approvals []json.RawMessage `json:"approvals"`
}

type approvalRecord struct {
	approval.Approval
	MAC *recordMAC `json:"mac,omitempty"`
}

// Approvals returns the store's approvals, as an approval.Store.
func (s *FileStore) Approvals() approval.Store {
	return &fileApprovals{s: s, path: ApprovalsPath(s.path)}
}

type fileApprovals struct {
	s    *FileStore
	path string
}

// read loads and checks the approvals file; missing is empty. A record
// that fails its check makes the whole file unusable: held requests then
// fail closed with store_unavailable rather than guess what was decided.
func (f *fileApprovals) read() (*approval.Book, error) {
	data, err := os.ReadFile(f.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &approval.Book{}, nil
	case err != nil:
		return nil, fmt.Errorf("%w: approvals: %v", ErrStoreUnavailable, err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var af approvalsFile
	if err := dec.Decode(&af); err != nil {
		return nil, fmt.Errorf("%w: approvals %s: %v", ErrStoreUnavailable, f.path, describeJSONError(data, err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: approvals %s: data after the JSON object", ErrStoreUnavailable, f.path)
	}
	if af.Version != fileVersion {
		return nil, fmt.Errorf("%w: approvals %s: version %d is not supported", ErrStoreUnavailable, f.path, af.Version)
	}
	b := &approval.Book{Approvals: make([]approval.Approval, 0, len(af.Approvals))}
	for i, raw := range af.Approvals {
		var rec approvalRecord
		if err := decodeRecord(raw, &rec); err != nil {
			return nil, fmt.Errorf("%w: approvals %s: record %d: %v", ErrStoreUnavailable, f.path, i, err)
		}
		mac := rec.MAC
		rec.MAC = nil
		canon, err := canonicalJSON(rec)
		if err == nil {
			err = f.s.keys.verify(kindApproval, canon, mac)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: approvals %s: record %d (%s): %v", ErrStoreUnavailable, f.path, i, rec.ID, err)
		}
		b.Approvals = append(b.Approvals, rec.Approval)
	}
	return b, nil
}

func (f *fileApprovals) encode(b *approval.Book) ([]byte, error) {
	af := approvalsFile{Version: fileVersion, Approvals: make([]json.RawMessage, 0, len(b.Approvals))}
	for _, a := range b.Approvals {
		rec := approvalRecord{Approval: a}
		canon, err := canonicalJSON(rec)
		if err != nil {
			return nil, err
		}
		rec.MAC = f.s.keys.sign(kindApproval, canon)
		raw, err := json.Marshal(rec)
		if err != nil {
			return nil, err
		}
		af.Approvals = append(af.Approvals, raw)
	}
	out, err := json.MarshalIndent(af, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// update changes the book under the store's write lock and saves it if
// change reports a change.
func (f *fileApprovals) update(ctx context.Context, change func(b *approval.Book) (bool, error)) error {
	return f.s.writeLocked(ctx, func() (string, []byte, error) {
		b, err := f.read()
		if err != nil {
			return "", nil, err
		}
		write, err := change(b)
		if err != nil || !write {
			return "", nil, err
		}
		out, err := f.encode(b)
		if err != nil {
			return "", nil, fmt.Errorf("write approvals %s: %w", f.path, err)
		}
		return f.path, out, nil
	})
}

func (f *fileApprovals) Find(_ context.Context, req approval.Request, now time.Time) (approval.Approval, bool, error) {
	b, err := f.read()
	if err != nil {
		return approval.Approval{}, false, err
	}
	a, ok := b.Find(req, now)
	return a, ok, nil
}

func (f *fileApprovals) Get(_ context.Context, id string) (approval.Approval, error) {
	b, err := f.read()
	if err != nil {
		return approval.Approval{}, err
	}
	return b.Get(id)
}

func (f *fileApprovals) Create(ctx context.Context, req approval.Request, now time.Time, ttl time.Duration) (approval.Approval, error) {
	var a approval.Approval
	err := f.update(ctx, func(b *approval.Book) (bool, error) {
		var err error
		a, err = b.Create(req, now, ttl)
		return err == nil, err
	})
	return a, err
}

func (f *fileApprovals) Use(ctx context.Context, id, requestID string, now time.Time) error {
	return f.update(ctx, func(b *approval.Book) (bool, error) {
		before, err := b.Get(id)
		if err != nil {
			return false, err
		}
		if err := b.Use(id, requestID, now); err != nil {
			return false, err
		}
		after, _ := b.Get(id)
		return after.Status != before.Status, nil
	})
}

func (f *fileApprovals) Decide(ctx context.Context, id string, d approval.Decision) (approval.Approval, error) {
	var a approval.Approval
	err := f.update(ctx, func(b *approval.Book) (bool, error) {
		var err error
		a, err = b.Decide(id, d)
		return err == nil, err
	})
	return a, err
}

func (f *fileApprovals) List(_ context.Context, flt approval.Filter, now time.Time) ([]approval.Approval, error) {
	b, err := f.read()
	if err != nil {
		return nil, err
	}
	return b.Select(flt, now), nil
}

// Wait polls the file every ApprovalPoll (reading it only when it was replaced or
// its size or modification time changed) until the approval is decided or ctx ends.
func (f *fileApprovals) Wait(ctx context.Context, id string) (approval.Approval, error) {
	tick := time.NewTicker(ApprovalPoll)
	defer tick.Stop()
	var seen os.FileInfo
	for {
		fi, statErr := os.Stat(f.path)
		if statErr != nil || seen == nil || !os.SameFile(fi, seen) || fi.Size() != seen.Size() || !fi.ModTime().Equal(seen.ModTime()) {
			a, err := f.Get(ctx, id)
			if err != nil || a.Status != approval.StatusPending {
				return a, err
			}
			seen = fi
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			a, err := f.Get(context.WithoutCancel(ctx), id)
			if err != nil {
				return a, err
			}
			return a, ctx.Err()
		}
	}
}
