package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/alter-sidecar/alter/certs"
	"github.com/alter-sidecar/alter/config"
	"github.com/alter-sidecar/alter/secretstore"
)

// loadConfig returns the config a command runs with: the file given with
// --config, else config.yaml in the home if it exists, else the defaults.
// explicit reports whether a file was named by the user.
func (a *app) loadConfig(file string) (cfg config.Config, home string, fromFile bool, err error) {
	home, err = config.Home(a.homeFlag)
	if err != nil {
		return config.Config{}, "", false, err
	}
	if file == "" {
		candidate := filepath.Join(home, config.FileName)
		if _, statErr := os.Stat(candidate); statErr == nil {
			file = candidate
		}
	}
	if file == "" {
		return config.Default(home), home, false, nil
	}
	cfg, err = config.Load(file, home)
	return cfg, home, true, err
}

// ensureHome creates whatever of the default set-up is missing: the home
// directory, master key, CA and empty store. Existing files are never
// touched. It says on stderr what it created and where.
func (a *app) ensureHome(cfg config.Config, home string) error {
	if err := os.MkdirAll(home, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", home, err)
	}
	if cfg.Store.KeyEnv == "" {
		if created, err := ensure(cfg.Store.KeyFile, func() error { return secretstore.GenerateKeyFile(cfg.Store.KeyFile) }); err != nil {
			return fmt.Errorf("master key: %w", err)
		} else if created {
			fmt.Fprintf(a.stderr, "created master key %s (keep it secret; mode 0600)\n", cfg.Store.KeyFile)
		}
	}
	caCreated, err := ensure(cfg.MITM.CACert, func() error {
		if _, err := os.Stat(cfg.MITM.CAKey); err == nil {
			return fmt.Errorf("%s exists but %s does not; restore the certificate or remove both", cfg.MITM.CAKey, cfg.MITM.CACert)
		}
		_, err := certs.CreateCA(cfg.MITM.CACert, cfg.MITM.CAKey)
		return err
	})
	if err != nil {
		return fmt.Errorf("CA: %w", err)
	}
	if caCreated {
		fmt.Fprintf(a.stderr, "created CA %s (clients trust this file; its key is %s)\n", cfg.MITM.CACert, cfg.MITM.CAKey)
	}
	if created, err := ensure(cfg.Store.Path, func() error { return secretstore.Create(cfg.Store.Path) }); err != nil {
		return fmt.Errorf("store: %w", err)
	} else if created {
		fmt.Fprintf(a.stderr, "created store %s\n", cfg.Store.Path)
	}
	return nil
}

// ensure runs create when path does not exist yet.
func ensure(path string, create func() error) (bool, error) {
	_, err := os.Stat(path)
	if err == nil {
		return false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	if err := create(); err != nil {
		return false, err
	}
	return true, nil
}

// openStore opens the configured store with the configured keyring.
func openStore(cfg config.Config) (*secretstore.FileStore, error) {
	var keys *secretstore.Keyring
	var err error
	if cfg.Store.KeyEnv != "" {
		keys, err = secretstore.KeyringFromEnv(cfg.Store.KeyEnv)
	} else {
		keys, err = secretstore.LoadKeyFile(cfg.Store.KeyFile)
	}
	if err != nil {
		return nil, err
	}
	return secretstore.OpenFile(cfg.Store.Path, keys, secretstore.Options{CacheSize: cfg.Store.Cache.Size, CacheTTL: cfg.Store.Cache.TTL})
}
