package main

import (
	"context"
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

	list := serverDBList(a, configFile, "List tokens (never the tokens themselves)",
		(*storage.DB).ListTokens,
		"ID\tKIND\tNAME\tAPP\tCREATED\tREVOKED",
		func(t storage.Token) string {
			return fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s", t.ID, t.Kind, t.Name, dash(t.App), t.CreatedAt.Format(time.RFC3339), timeOrDash(t.RevokedAt))
		})

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

// serverDBList is the "list [--json]" command of alter server token and
// alter server user: rows read from the server's database, printed as JSON
// or as a table with header and one row(...) line each.
func serverDBList[T any](a *app, configFile *string, short string, fetch func(*storage.DB, context.Context) ([]T, error), header string, row func(T) string) *cobra.Command {
	var asJSON bool
	list := &cobra.Command{
		Use:   "list [--json]",
		Short: short,
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			db, err := a.tokenDB(cmd, *configFile)
			if err != nil {
				return err
			}
			defer db.Close()
			rows, err := fetch(db, cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.stdout, rows)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, header)
			for _, r := range rows {
				fmt.Fprintln(tw, row(r))
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return list
}

func (a *app) tokenDB(cmd *cobra.Command, configFile string) (*storage.DB, error) {
	cfg, home, err := a.loadServerConfig(configFile)
	if err != nil {
		return nil, err
	}
	return a.openServerDB(cmd.Context(), cfg, home)
}
