package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/secretstore"
	"github.com/alter-sidecar/alter/server/client"
	"github.com/alter-sidecar/alter/server/wire"
)

func (a *app) grantCommand() *cobra.Command {
	grant := &cobra.Command{Use: "grant", Short: "List, show, clone, restrict, revoke, rotate and delete grants"}
	var asJSON bool

	list := &cobra.Command{
		Use:   "list [--json]",
		Short: "List grants (never their secrets)",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withStore(func(s secretstore.Admin) error {
				if r, ok := s.(*client.AdminStore); ok && asJSON {
					// The control plane's listing adds each grant's app.
					grants, err := r.ListWithApp(cmd.Context())
					if err != nil {
						return err
					}
					if grants == nil {
						grants = []wire.GrantInfo{}
					}
					return writeJSON(a.stdout, grants)
				}
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
			return a.withStore(func(s secretstore.Admin) error {
				g := wire.GrantInfo{}
				var err error
				if r, ok := s.(*client.AdminStore); ok {
					g, err = r.GetWithApp(cmd.Context(), args[0])
				} else {
					g.GrantInfo, err = s.Get(cmd.Context(), args[0])
				}
				if err != nil {
					return err
				}
				if asJSON {
					// App is omitted when empty: the file store's output is unchanged.
					return writeJSON(a.stdout, g)
				}
				return writeDetail(a.stdout, g.GrantInfo, g.App)
			})
		},
	}
	show.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a grant; a running proxy refuses it within a second or two",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withStore(func(s secretstore.Admin) error {
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
			return a.withStore(func(s secretstore.Admin) error {
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
	grant.AddCommand(list, show, revoke, rotate, a.cloneCommand(), a.policyCommand(), a.deleteCommand())
	return grant
}

// withStore runs fn on the file store of the home, or on the control
// plane when --server (or ALTER_SERVER) names one.
func (a *app) withStore(fn func(secretstore.Admin) error) error {
	s, closeStore, err := a.adminStore("")
	if err != nil {
		return err
	}
	defer closeStore()
	return fn(s)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// status is the store's view of the grant and its parents; the fallback
// covers a store that does not fill it in.
func status(g secretstore.GrantInfo) string {
	if g.Status != "" {
		return g.Status
	}
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
	fmt.Fprintln(tw, "GRANT\tNAME\tTYPE\tSTATUS\tDESTINATIONS\tPARENT\tEXPIRES\tCREATED")
	for _, g := range grants {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", g.ID, dash(g.Name), g.Secret.Spec.Type, status(g),
			strings.Join(g.Policy.Destinations, ","), dash(g.Parent), timeOrDash(g.EffectiveExpiresAt), g.CreatedAt.Format(time.RFC3339))
	}
	return tw.Flush()
}

// writeDetail prints one grant; app is the control plane's (a row only
// when set).
func writeDetail(w io.Writer, g secretstore.GrantInfo, app string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	row("grant", g.ID)
	row("name", dash(g.Name))
	if app != "" {
		row("app", app)
	}
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
	writeRules(row, g.Policy)
	row("parent", dash(g.Parent))
	if g.Parent != "" {
		row("parent rules", "also enforced on every request")
	}
	row("expires", timeOrDash(g.ExpiresAt))
	if g.EffectiveExpiresAt != nil && (g.ExpiresAt == nil || !g.ExpiresAt.Equal(*g.EffectiveExpiresAt)) {
		row("expires (with parents)", g.EffectiveExpiresAt.Format(time.RFC3339))
	}
	if g.Problem != "" {
		row("problem", g.Problem)
	}
	row("secret version", fmt.Sprint(g.Secret.Version))
	row("created", g.CreatedAt.Format(time.RFC3339))
	row("updated", g.UpdatedAt.Format(time.RFC3339))
	return tw.Flush()
}

// writeRules shows the optional rules; "any" where a rule does not restrict.
func writeRules(row func(k, v string), p policy.Spec) {
	list := func(xs []string, sep string) string {
		if len(xs) == 0 {
			return "any"
		}
		return strings.Join(xs, sep)
	}
	row("methods", list(p.Methods, ","))
	row("path prefixes", list(p.PathPrefixes, ", "))
	row("time windows", list(p.Windows, "; "))
	row("source ips", list(p.SourceCIDRs, ", "))
	row("actors", list(p.Actors, ", "))
	if p.NotBefore != nil {
		row("not before", p.NotBefore.Format(time.RFC3339))
	}
	if p.NotAfter != nil {
		row("not after", p.NotAfter.Format(time.RFC3339))
	}
	row("approval", describeApproval(p))
	row("rate", describeLimit(p.Rate, p.PerActor, "window"))
	row("quota", describeLimit(p.Quota, p.PerActor, "calendar"))
}

// describeApproval says in words which requests wait for a person.
func describeApproval(p policy.Spec) string {
	if len(p.RequireApproval) == 0 {
		return "none (no request waits for a person)"
	}
	what, verb := strings.Join(p.RequireApproval, ",")+" requests", " wait"
	if len(p.RequireApproval) == 1 && p.RequireApproval[0] == "*" {
		what, verb = "every request", " waits"
	}
	where := ""
	if len(p.ApprovalPathPrefixes) > 0 {
		where = " under " + strings.Join(p.ApprovalPathPrefixes, ", ")
	}
	return what + where + verb + " for a person's approval (alter approvals)"
}

// describeLimit says in words what a rate or a quota allows.
func describeLimit(text string, perActor bool, kind string) string {
	if text == "" {
		return "none"
	}
	n, unit, _ := strings.Cut(text, "/")
	words := map[string]string{"s": "second", "m": "minute", "h": "hour", "d": "calendar day", "mo": "calendar month"}[unit]
	out := "at most " + n + " requests in any " + words
	if kind == "calendar" {
		out = "at most " + n + " requests a " + words + " (UTC, or the zone of the first time window)"
	}
	if perActor {
		out += ", for each proxy client"
	}
	return text + ": " + out
}

func timeOrDash(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
