package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/alter-sidecar/alter/secretstore"
)

func (a *app) grantCommand() *cobra.Command {
	grant := &cobra.Command{Use: "grant", Short: "List, show, revoke and rotate grants"}
	var asJSON bool

	list := &cobra.Command{
		Use:   "list [--json]",
		Short: "List grants (never their secrets)",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withStore(func(s *secretstore.FileStore) error {
				grants, err := s.List(cmd.Context())
				if err != nil {
					return err
				}
				if asJSON {
					if grants == nil {
						grants = []secretstore.GrantInfo{}
					}
					return writeJSON(a.stdout, grants)
				}
				return writeTable(a.stdout, grants)
			})
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	show := &cobra.Command{
		Use:   "show ID [--json]",
		Short: "Show a grant's metadata and policy (never its secret)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withStore(func(s *secretstore.FileStore) error {
				g, err := s.Get(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(a.stdout, g)
				}
				return writeDetail(a.stdout, g)
			})
		},
	}
	show.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a grant; a running proxy refuses it within a second or two",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withStore(func(s *secretstore.FileStore) error {
				if err := s.Revoke(cmd.Context(), args[0]); err != nil {
					return err
				}
				fmt.Fprintf(a.stderr, "revoked %s\n", args[0])
				return nil
			})
		},
	}

	rotate := &cobra.Command{
		Use:   "rotate ID < new-secret",
		Short: "Replace the secret behind a grant with a new value from stdin; the grant id stays",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withStore(func(s *secretstore.FileStore) error {
				g, err := s.Get(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				fields, err := a.readFields(g.Secret.Fields)
				if err != nil {
					return err
				}
				if err := s.Rotate(cmd.Context(), args[0], fields); err != nil {
					return err
				}
				fmt.Fprintf(a.stderr, "rotated the secret behind %s\n", args[0])
				return nil
			})
		},
	}
	grant.AddCommand(list, show, revoke, rotate)
	return grant
}

func (a *app) withStore(fn func(*secretstore.FileStore) error) error {
	cfg, _, _, err := a.loadConfig("")
	if err != nil {
		return err
	}
	s, err := openStore(cfg)
	if err != nil {
		return err
	}
	defer s.Close()
	return fn(s)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func status(g secretstore.GrantInfo) string {
	switch {
	case g.Revoked:
		return "revoked"
	case g.ExpiresAt != nil && !time.Now().Before(*g.ExpiresAt):
		return "expired"
	}
	return "active"
}

func writeTable(w io.Writer, grants []secretstore.GrantInfo) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GRANT\tNAME\tTYPE\tSTATUS\tDESTINATIONS\tCREATED")
	for _, g := range grants {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", g.ID, dash(g.Name), g.Secret.Spec.Type, status(g),
			strings.Join(g.Policy.Destinations, ","), g.CreatedAt.Format(time.RFC3339))
	}
	return tw.Flush()
}

func writeDetail(w io.Writer, g secretstore.GrantInfo) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	row("grant", g.ID)
	row("name", dash(g.Name))
	row("status", status(g))
	row("type", g.Secret.Spec.Type)
	if g.Secret.Spec.Header != "" {
		row("header", g.Secret.Spec.Header)
	}
	if g.Secret.Spec.Format != "" {
		row("format", g.Secret.Spec.Format)
	}
	row("fields", strings.Join(g.Secret.Fields, ", ")+" (write-only)")
	row("destinations", strings.Join(g.Policy.Destinations, ", "))
	row("parent", dash(g.Parent))
	if g.ExpiresAt != nil {
		row("expires", g.ExpiresAt.Format(time.RFC3339))
	}
	row("secret version", fmt.Sprint(g.Secret.Version))
	row("created", g.CreatedAt.Format(time.RFC3339))
	row("updated", g.UpdatedAt.Format(time.RFC3339))
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
