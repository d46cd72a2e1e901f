package certs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

type fileSpec struct {
	path string
	data []byte
	mode os.FileMode
}

// writeFiles writes each file to a temporary file in its directory, fsyncs
// it, and only when all are durable links them into place. Linking (rather
// than renaming) fails if the target exists, so nothing is overwritten even
// if another process creates the file meanwhile. If a later file cannot be
// put in place the earlier ones are removed again, so a failure never
// leaves half a CA behind.
func writeFiles(files []fileSpec) error {
	var temps []string
	defer func() {
		for _, t := range temps {
			os.Remove(t)
		}
	}()
	for _, f := range files {
		dir := filepath.Dir(f.path)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("create directory %s: %w", dir, err)
		}
		tmp, err := writeTemp(dir, f)
		if err != nil {
			return err
		}
		temps = append(temps, tmp)
	}

	var placed []string
	for i, f := range files {
		if err := placeNoReplace(temps[i], f.path); err != nil {
			for _, p := range placed {
				os.Remove(p)
			}
			return err
		}
		placed = append(placed, f.path)
		syncDir(filepath.Dir(f.path))
	}
	return nil
}

func writeTemp(dir string, f fileSpec) (string, error) {
	t, err := os.CreateTemp(dir, "."+filepath.Base(f.path)+".tmp-*")
	if err != nil {
		return "", fmt.Errorf("write %s: %w", f.path, err)
	}
	name := t.Name()
	fail := func(err error) (string, error) {
		t.Close()
		os.Remove(name)
		return "", fmt.Errorf("write %s: %w", f.path, err)
	}
	// CreateTemp makes the file 0600; set the final mode before any data
	// lands so the key is never briefly readable by others.
	if err := t.Chmod(f.mode); err != nil {
		return fail(err)
	}
	if _, err := t.Write(f.data); err != nil {
		return fail(err)
	}
	if err := t.Sync(); err != nil {
		return fail(err)
	}
	if err := t.Close(); err != nil {
		os.Remove(name)
		return "", fmt.Errorf("write %s: %w", f.path, err)
	}
	return name, nil
}

// placeNoReplace moves tmp to path, failing if path exists. It links when
// the file system supports hard links and falls back to a checked rename.
func placeNoReplace(tmp, path string) error {
	err := os.Link(tmp, path)
	if err == nil {
		return nil
	}
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s already exists; refusing to overwrite it", path)
	}
	if _, statErr := os.Lstat(path); statErr == nil {
		return fmt.Errorf("%s already exists; refusing to overwrite it", path)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// syncDir makes a new directory entry durable. Best effort: some
// platforms cannot fsync a directory, and the data itself is already synced.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
