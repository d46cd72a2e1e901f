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
	"github.com/alter-sidecar/alter/server/client"
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
	keys, err := loadKeyring(cfg.Store)
	if err != nil {
		return nil, err
	}
	return secretstore.OpenFile(cfg.Store.Path, keys, secretstore.Options{CacheSize: cfg.Store.Cache.Size, CacheTTL: cfg.Store.Cache.TTL})
}

// loadKeyring reads the master keyring from store.key_env or
// store.key_file; a key file that does not exist is explained.
func loadKeyring(st config.Store) (*secretstore.Keyring, error) {
	if st.KeyEnv != "" {
		return secretstore.KeyringFromEnv(st.KeyEnv)
	}
	keys, err := secretstore.LoadKeyFile(st.KeyFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, noKeyError(st.KeyFile)
	}
	return keys, err
}

// noKeyError explains a missing master key file. On a fresh machine it
// means nothing has been set up in the home yet, and opening the store
// would otherwise fail with a bare "no such file".
func noKeyError(keyFile string) error {
	dir := filepath.Dir(keyFile)
	if filepath.Base(keyFile) != defaultKeyName {
		return fmt.Errorf("no master key at %s (store.key_file): create one with \"alter --home DIR init\" and point store.key_file at DIR/%s", keyFile, defaultKeyName)
	}
	alter := "alter"
	if def, err := config.Home(""); err != nil || def != dir {
		alter += " --home " + dir // so the suggestion creates the key where it was looked for
	}
	return fmt.Errorf("no master key at %s: %s has no key or store yet; run \"%s init\" (or \"%s proxy\", which creates them on its first run)",
		keyFile, dir, alter, alter)
}

// defaultKeyName is the key file alter init creates in a home.
var defaultKeyName = filepath.Base(config.Default("").Store.KeyFile)

// Environment variables that point the admin commands at a control plane.
// The token is never a flag value: flags show in ps and shell history.
const (
	envServer   = "ALTER_SERVER"
	envToken    = "ALTER_TOKEN"
	envServerCA = "ALTER_SERVER_CA"
)

// serverClient returns a client for the control plane named by --server
// or ALTER_SERVER, or nil when none is named (the file store is used).
func (a *app) serverClient() (*client.Client, error) {
	url := a.serverFlag
	if url == "" {
		url = os.Getenv(envServer)
	}
	if url == "" {
		if a.tokenFileFlag != "" || a.serverCAFlag != "" {
			return nil, usageError{errors.New("--token-file and --server-ca go with --server (or " + envServer + ")")}
		}
		return nil, nil
	}
	var tok client.Token
	var err error
	switch {
	case a.tokenFileFlag != "":
		tok, err = client.LoadTokenFile(a.tokenFileFlag)
	case os.Getenv(envToken) != "":
		tok, err = client.TokenFromEnv(envToken)
	default:
		return nil, usageError{fmt.Errorf("--server needs an admin token: set %s or pass --token-file FILE", envToken)}
	}
	if err != nil {
		return nil, err
	}
	ca := a.serverCAFlag
	if ca == "" {
		ca = os.Getenv(envServerCA)
	}
	return client.New(client.Options{URL: url, Token: tok, CAFile: ca})
}

// adminStore opens the store the admin commands work on: the control
// plane when one is named, else the file store of the home. app is the
// application new grants belong to (control plane only). close releases it.
func (a *app) adminStore(app string) (s secretstore.Admin, close func(), err error) {
	c, err := a.serverClient()
	if err != nil {
		return nil, nil, err
	}
	if c != nil {
		return &client.AdminStore{C: c, App: app}, func() {}, nil
	}
	if app != "" {
		return nil, nil, usageError{errors.New("--app names the application whose sidecars may use the grant: it needs --server")}
	}
	cfg, _, _, err := a.loadConfig("")
	if err != nil {
		return nil, nil, err
	}
	if cfg.Store.Type != config.StoreFile {
		return nil, nil, usageError{fmt.Errorf("the config's store is %s: manage its grants with --server URL (or %s)", cfg.Store.Type, envServer)}
	}
	st, err := openStore(cfg)
	if err != nil {
		return nil, nil, err
	}
	return loggedStore{st, newAdminRecorder(cfg.Audit.AdminPath)}, func() { st.Close() }, nil
}
