package ship

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// position is the last record the server acknowledged.
type position struct {
	Version int    `json:"version"`
	Seq     uint64 `json:"seq"`  // 0: nothing shipped yet
	Hash    string `json:"hash"` // audit.LineHash of that record's line
}

const stateVersion = 1

// loadState reads the state file; a missing file is the start of the log.
func loadState(path string) (position, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return position{Version: stateVersion}, nil
	}
	if err != nil {
		return position{}, fmt.Errorf("audit shipping state %s: %w", path, err)
	}
	var p position
	if err := json.Unmarshal(data, &p); err != nil || p.Version != stateVersion || (p.Seq > 0 && len(p.Hash) != 64) {
		// Refuse rather than guess: starting over would only resend
		// (harmless, IDs dedupe), but a state file nobody wrote is worth
		// a look. Removing it makes the shipper start from the log's start.
		return position{}, fmt.Errorf("audit shipping state %s: not a state file this build wrote; remove it to ship the log again from its start", path)
	}
	return p, nil
}

// saveState writes the state atomically: a crash leaves the old or the
// new position, never a torn one.
func saveState(path string, p position) error {
	p.Version = stateVersion
	data, err := json.Marshal(p)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("audit shipping state: %w", err)
	}
	_, werr := f.Write(append(data, '\n'))
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("audit shipping state %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("audit shipping state: %w", err)
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return fmt.Errorf("audit shipping state: %w", err)
	}
	defer d.Close()
	return d.Sync()
}
