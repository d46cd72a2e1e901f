package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/alter-sidecar/alter/server/storage"
)

// serverTokenCommand is "alter server token": API tokens, written to the
// database directly. This is the bootstrap path (no token is needed to make
// the first one), so it needs what the server needs: the config, the master
// key and the database.
func (a *app) serverTokenCommand(configFile *string) *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Create, list and revoke the server's API tokens"}
	var kind, name, app string
	var listJSON bool
	create := &cobra.Command{
		Use:   "create --kind admin|sidecar --name NAME [--app APP]",
		Short: "Create a token and print it alone on stdout (it is shown once)",
		Long: "create makes an API token: an admin token for people and tools, or a sidecar token that\n" +
			"can only resolve the grants of --app. The token is printed once, alone on standard output,\n" +
			"so T=$(alter server token create ...) works; the server keeps only its SHA-256 digest.",
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if kind == "" || name == "" {
				return usageError{fmt.Errorf("--kind and --name are required")}
			}
			db, err := a.tokenDB(cmd, *configFile)
			if err != nil {
				return err
			}
			defer db.Close()
			t, secret, err := db.CreateToken(cmd.Context(), storage.NewToken{Kind: kind, Name: name, App: app})
			if err != nil {
				return err
			}
			what := t.Kind + " token " + t.ID + " (" + t.Name + ")"
			if t.App != "" {
				what += " for app " + t.App
			}
			fmt.Fprintf(a.stderr, "created %s; it is shown only now\n", what)
			fmt.Fprintln(a.stdout, secret)
			return nil
		},
	}
	create.Flags().StringVar(&kind, "kind", "", "admin or sidecar")
	create.Flags().StringVar(&name, "name", "", "who or what uses the token (shown in listings and audit sources)")
	create.Flags().StringVar(&app, "app", "", "the app whose grants a sidecar token resolves (sidecar tokens only)")

	list := &cobra.Command{
		Use:   "list [--json]",
		Short: "List tokens (never the tokens themselves)",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			db, err := a.tokenDB(cmd, *configFile)
			if err != nil {
				return err
			}
			defer db.Close()
			toks, err := db.ListTokens(cmd.Context())
			if err != nil {
				return err
			}
			if listJSON {
				return writeJSON(a.stdout, toks)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tKIND\tNAME\tAPP\tCREATED\tREVOKED")
			for _, t := range toks {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Kind, t.Name, dash(t.App), t.CreatedAt.Format(time.RFC3339), timeOrDash(t.RevokedAt))
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&listJSON, "json", false, "print JSON")

	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a token at once, on every replica",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			db, err := a.tokenDB(cmd, *configFile)
			if err != nil {
				return err
			}
			defer db.Close()
			t, err := db.RevokeToken(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "revoked %s token %s (%s)\n", t.Kind, t.ID, t.Name)
			return nil
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}

func (a *app) tokenDB(cmd *cobra.Command, configFile string) (*storage.DB, error) {
	cfg, home, err := a.loadServerConfig(configFile)
	if err != nil {
		return nil, err
	}
	return a.openServerDB(cmd.Context(), cfg, home)
}
