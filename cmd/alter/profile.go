package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/alter-sidecar/alter/config"
	"github.com/alter-sidecar/alter/secretstore"
	"github.com/alter-sidecar/alter/server/client"
)

// The profile commands manage profiles: a name, a set of grants whose
// destinations do not overlap, and a token an application puts in its proxy
// URL's password (alter run, alter env). They work on the file store of the
// home, or with --server on the control plane, where a profile belongs to
// one app (--app on create) and holds only that app's grants.

func (a *app) profileCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "profile", Short: "Create, list, show, change, revoke profiles and rotate their tokens"}
	var grants []string
	var denyUnmatched, asJSON bool
	var app string

	create := &cobra.Command{
		Use:   "create NAME --grant ID [--grant ID]... [--deny-unmatched]",
		Short: "Create a profile and print its token (once; only its SHA-256 is stored)",
		Long: "create makes a profile of grants whose destinations do not overlap (a request to a host\n" +
			"two of them cover could use either: that is refused, naming the overlap) and prints its\n" +
			"token on stdout. An application that sends the token as its proxy password uses, for each\n" +
			"request, the grant whose destinations reach the target; other requests pass through, or,\n" +
			"with --deny-unmatched, are refused with destination_not_allowed (an egress allowlist).",
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withProfiles(app, func(s secretstore.ProfileAdmin) error {
				p, tok, err := s.CreateProfile(cmd.Context(), secretstore.NewProfile{Name: args[0], Grants: grants, DenyUnmatched: denyUnmatched})
				if err != nil {
					return err
				}
				fmt.Fprintln(a.stdout, tok.Reveal())
				fmt.Fprintf(a.stderr, "created profile %s with %d grant(s); the token above is shown once (alter profile rotate-token %s makes a new one)\n", p.Name, len(p.Grants), p.Name)
				return nil
			})
		},
	}
	create.Flags().StringArrayVar(&grants, "grant", nil, "a grant of the profile (repeatable)")
	create.Flags().BoolVar(&denyUnmatched, "deny-unmatched", false, "refuse requests and CONNECTs to targets none of the profile's grants reaches")
	create.Flags().StringVar(&app, "app", "", "with --server: the application whose sidecars use the profile (its grants must be of it)")
	_ = create.MarkFlagRequired("grant")

	var setDeny, allowUnmatched bool
	update := &cobra.Command{
		Use:   "update NAME [--grant ID]... [--deny-unmatched | --allow-unmatched]",
		Short: "Replace a profile's grants or change what happens to unmatched targets",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var c secretstore.ProfileChange
			if cmd.Flags().Changed("grant") {
				c.Grants = grants
			}
			switch {
			case setDeny && allowUnmatched:
				return usageError{errors.New("--deny-unmatched and --allow-unmatched contradict each other")}
			case setDeny || allowUnmatched:
				c.DenyUnmatched = &setDeny
			case c.Grants == nil:
				return usageError{errors.New("nothing to change: give --grant, --deny-unmatched or --allow-unmatched")}
			}
			return a.withProfiles("", func(s secretstore.ProfileAdmin) error {
				p, err := s.UpdateProfile(cmd.Context(), args[0], c)
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stderr, "updated profile %s: %d grant(s), unmatched targets %s\n", p.Name, len(p.Grants), unmatched(p.DenyUnmatched))
				return nil
			})
		},
	}
	update.Flags().StringArrayVar(&grants, "grant", nil, "the profile's grants, replacing the current ones (repeatable)")
	update.Flags().BoolVar(&setDeny, "deny-unmatched", false, "refuse targets none of the grants reaches")
	update.Flags().BoolVar(&allowUnmatched, "allow-unmatched", false, "pass targets none of the grants reaches through, without a credential")

	list := &cobra.Command{
		Use:   "list [--json]",
		Short: "List profiles (never their tokens)",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withProfiles("", func(s secretstore.ProfileAdmin) error {
				if r, ok := s.(*client.AdminStore); ok && asJSON {
					// The control plane's listing adds each profile's app.
					ps, err := r.C.ListProfiles(cmd.Context(), "")
					if err != nil {
						return err
					}
					return writeJSON(a.stdout, ps)
				}
				ps, err := s.ListProfiles(cmd.Context())
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(a.stdout, ps)
				}
				tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "PROFILE\tSTATUS\tGRANTS\tUNMATCHED\tCREATED")
				for _, p := range ps {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.Name, p.Status, strings.Join(p.Grants, ","), unmatched(p.DenyUnmatched), p.CreatedAt.Format(time.RFC3339))
				}
				return tw.Flush()
			})
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	show := &cobra.Command{
		Use:   "show NAME [--json]",
		Short: "Show a profile and its grants (never its token)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withProfiles("", func(s secretstore.ProfileAdmin) error {
				if r, ok := s.(*client.AdminStore); ok {
					p, err := r.C.GetProfile(cmd.Context(), args[0])
					if err != nil {
						return err
					}
					if asJSON {
						return writeJSON(a.stdout, p)
					}
					return writeProfile(a.stdout, p.ProfileInfo, p.App)
				}
				p, err := s.GetProfile(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(a.stdout, p)
				}
				return writeProfile(a.stdout, p, "")
			})
		},
	}
	show.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	revoke := &cobra.Command{
		Use:   "revoke NAME",
		Short: "Revoke a profile for good; a running proxy refuses its token within a second",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withProfiles("", func(s secretstore.ProfileAdmin) error {
				if err := s.RevokeProfile(cmd.Context(), args[0]); err != nil {
					return err
				}
				fmt.Fprintf(a.stderr, "revoked profile %s\n", args[0])
				return nil
			})
		},
	}

	rotate := &cobra.Command{
		Use:   "rotate-token NAME",
		Short: "Print a new token for a profile; the old one stops working",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withProfiles("", func(s secretstore.ProfileAdmin) error {
				tok, err := s.RotateProfileToken(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				fmt.Fprintln(a.stdout, tok.Reveal())
				fmt.Fprintf(a.stderr, "new token for profile %s; the previous one no longer works\n", args[0])
				return nil
			})
		},
	}
	cmd.AddCommand(create, update, list, show, revoke, rotate)
	return cmd
}

func unmatched(deny bool) string {
	if deny {
		return "denied"
	}
	return "passthrough"
}

// writeProfile prints a profile; app is the control plane's ("" for none).
func writeProfile(w io.Writer, p secretstore.ProfileInfo, app string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	row("profile", p.Name)
	row("id", p.ID)
	if app != "" {
		row("app", app)
	}
	row("status", p.Status)
	if p.Problem != "" {
		row("problem", p.Problem)
	}
	row("unmatched", unmatched(p.DenyUnmatched))
	row("created", p.CreatedAt.Format(time.RFC3339))
	row("updated", p.UpdatedAt.Format(time.RFC3339))
	for _, m := range p.Members {
		row("grant", fmt.Sprintf("%s %s (%s) %s", m.GrantID, dash(m.Name), m.Status, strings.Join(m.Destinations, ",")))
	}
	return tw.Flush()
}

// withProfiles runs fn on the control plane named by --server, or else on
// the file store of the home. app is the application a new profile belongs
// to (control plane only, where it is required).
func (a *app) withProfiles(app string, fn func(secretstore.ProfileAdmin) error) error {
	c, err := a.serverClient()
	if err != nil {
		return err
	}
	if c != nil {
		return fn(&client.AdminStore{C: c, App: app})
	}
	if app != "" {
		return usageError{errors.New("--app names the application whose sidecars use the profile: it needs --server")}
	}
	cfg, _, _, err := a.loadConfig("")
	if err != nil {
		return err
	}
	if cfg.Store.Type != config.StoreFile {
		return usageError{fmt.Errorf("the config's store is %s: manage its profiles with --server URL (or %s)", cfg.Store.Type, envServer)}
	}
	st, err := openStore(cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	return fn(loggedStore{st, newAdminRecorder(cfg.Audit.AdminPath)})
}
