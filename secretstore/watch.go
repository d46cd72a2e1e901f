package secretstore

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"
)

// Reloading. A running proxy must see a grant added, rotated or revoked by
// another process without a restart. Every write replaces the file by
// rename, so a change shows in a stat: a new inode, and usually a new size
// and modification time. Watch compares stats, which is cheap enough to do
// twice a second, and re-reads the file only when they differ.

// fileID is what a stat says about the store file. The zero value means
// the file could not be stat'ed.
type fileID struct {
	ino   uint64
	size  int64
	mtime int64 // UnixNano
	mode  fs.FileMode
}

func idOf(fi fs.FileInfo) fileID {
	return fileID{ino: inode(fi), size: fi.Size(), mtime: fi.ModTime().UnixNano(), mode: fi.Mode()}
}

func statID(path string) fileID {
	fi, err := os.Stat(path)
	if err != nil {
		return fileID{}
	}
	return idOf(fi)
}

// Watch polls the store file every interval (500ms if interval <= 0) and
// reloads it when it changed, until ctx is done; run it in its own
// goroutine. onErr (may be nil) hears of each failed load (after which
// Resolve fails with ErrStoreUnavailable until a good file appears) and,
// once each, of each record that became unusable.
func (s *FileStore) Watch(ctx context.Context, interval time.Duration, onErr func(error)) {
	if interval <= 0 {
		interval = 500 * time.Millisecond
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	var last *snapshot
	reported := map[string]bool{}
	report := func() {
		snap := s.snap.Load()
		if snap == last || onErr == nil {
			return
		}
		last = snap
		if snap.err != nil {
			onErr(snap.err)
			return
		}
		// Forget problems that went away, so one that comes back is
		// reported again.
		now := make(map[string]bool, len(snap.problems))
		for _, p := range snap.problems {
			msg := p.Error()
			now[msg] = true
			if !reported[msg] {
				onErr(p)
			}
		}
		reported = now
	}
	var lastProfiles *profileSnapshot
	reportProfiles := func() {
		ps := s.profiles.Load()
		if ps == lastProfiles || onErr == nil {
			return
		}
		lastProfiles = ps
		if ps.err != nil {
			onErr(ps.err)
		}
		for _, p := range ps.problems {
			onErr(p)
		}
	}
	report()
	reportProfiles()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.refresh()
			report()
			reportProfiles()
		}
	}
}

// Refresh reloads the snapshot now if the file changed since it was read:
// one stat when it did not. The proxy calls it before it tunnels a CONNECT
// blind, so a grant added a moment ago is intercepted without waiting for
// the next poll.
func (s *FileStore) Refresh() { s.refresh() }

// refresh reloads the snapshot if the file changed since it was read.
func (s *FileStore) refresh() {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	s.refreshProfilesLocked(false)
	if statID(s.path) == s.snap.Load().file {
		return
	}
	s.reloadLocked()
}

// reload reads the file and publishes a new snapshot unconditionally.
func (s *FileStore) reload() {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	s.refreshProfilesLocked(true)
	s.reloadLocked()
}

func (s *FileStore) reloadLocked() {
	snap := s.load()
	if snap.err != nil && snap.policies == nil {
		// The proxy chooses which tunnels to terminate from Policies. A
		// store that cannot be read must not make it forget the hosts it
		// was terminating: requests to them must still meet the proxy (and
		// get 503), not a raw tunnel to the API. Keep the last known set.
		if prev := s.snap.Load(); prev != nil {
			snap.policies = prev.policies
		}
	}
	s.snap.Store(snap)
	// Drop opened secrets no usable grant can reach any more (revoked,
	// rotated away, removed). Versioned keys already keep them from being
	// served; this keeps them from lingering in memory until the TTL.
	// (A Resolve that loaded the previous snapshot may still add such an
	// entry after this loop; it is never served and ages out.)
	for _, k := range s.cache.Keys() {
		if !snap.live[k] {
			s.cache.Remove(k)
		}
	}
}

// load reads and checks the file. The file's identity comes from the open
// descriptor, so it matches the bytes read even if the file is replaced
// meanwhile.
func (s *FileStore) load() *snapshot {
	f, err := os.Open(s.path)
	if err != nil {
		return failedSnapshot(statID(s.path), fmt.Errorf("store: %w", err))
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return failedSnapshot(fileID{}, fmt.Errorf("store: %w", err))
	}
	id := idOf(fi)
	data, err := io.ReadAll(io.LimitReader(f, maxStoreFileSize+1))
	if err != nil {
		return failedSnapshot(id, fmt.Errorf("store %s: %w", s.path, err))
	}
	if len(data) > maxStoreFileSize {
		return failedSnapshot(id, fmt.Errorf("store %s: larger than %d bytes", s.path, maxStoreFileSize))
	}
	sf, err := decodeStoreFile(data)
	if err != nil {
		return failedSnapshot(id, fmt.Errorf("store %s: %v", s.path, err))
	}
	return buildSnapshot(sf, s.keys, s.path, id, time.Now())
}
