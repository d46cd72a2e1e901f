package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/alter-sidecar/alter/config"
)

func (a *app) initCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "init",
		Short: "Create the master key, CA, store and config under the home directory",
		Long: "init creates what alter needs under $ALTER_HOME (default ~/.alter): master.key, ca.pem and\n" +
			"ca-key.pem, an empty grants.json and a config.yaml. Files that exist are kept, never overwritten.",
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			home, err := config.Home(a.homeFlag)
			if err != nil {
				return err
			}
			cfg := config.Default(home)
			if err := a.ensureHome(cfg, home); err != nil {
				return err
			}
			path := filepath.Join(home, config.FileName)
			created, err := ensure(path, func() error { return writeNew(path, config.Render(cfg), 0o600) })
			if err != nil {
				return fmt.Errorf("config: %w", err)
			}
			if created {
				fmt.Fprintf(a.stderr, "created config %s\n", path)
			}
			fmt.Fprintf(a.stderr, "alter is set up in %s; start the proxy with: alter proxy\n", home)
			return nil
		},
	}
}

// writeNew writes a file that must not exist yet, durably.
func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}
