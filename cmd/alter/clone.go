package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/secretstore"
)

// cloneCommand is `alter grant clone`: a narrower, shorter-lived grant on
// the same secret, whose id alone is printed on stdout.
func (a *app) cloneCommand() *cobra.Command {
	var (
		name  string
		hosts []string
	)
	cmd := &cobra.Command{
		Use:   "clone ID [--ttl 1h | --not-after TIME] [--allow-host H]... [rule flags] [--name N]",
		Short: "Make a narrower, shorter-lived grant on the same secret and print its id",
		Long: "clone creates a grant that uses the same secret as ID (rotating ID rotates the clone) and prints\n" +
			"its id alone on standard output. Every rule flag can only narrow ID's policy; a rule not given is\n" +
			"ID's. The clone never outlives ID, and revoking ID revokes it.",
		Args: exactArgs(1),
	}
	pf := addPolicyFlags(cmd.Flags())
	cmd.Flags().StringArrayVar(&hosts, "allow-host", nil, "destination the clone may reach; must be one the parent allows (repeatable)")
	cmd.Flags().StringVar(&name, "name", "", "a name for people (default: the parent's)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		spec, expiry, err := pf.build(policy.Spec{Destinations: hosts}, time.Now())
		if err != nil {
			return err
		}
		return a.withStore(func(s secretstore.Admin) error {
			if pf.dropsApproval() {
				// A clone given no approval rule inherits its parent's; saying
				// "none" must not look as if it dropped one.
				if parent, err := s.Get(cmd.Context(), args[0]); err == nil && len(parent.Policy.RequireApproval) > 0 {
					return usageError{fmt.Errorf("--require-approval none: a clone cannot drop its parent's approval rule (%s); it keeps it", strings.Join(parent.Policy.RequireApproval, ","))}
				}
			}
			g, err := s.Clone(cmd.Context(), args[0], secretstore.CloneRequest{Name: name, ExpiresAt: expiry, Policy: spec})
			if err != nil {
				return err
			}
			until := "as long as its parent"
			if g.ExpiresAt != nil {
				until = "until " + g.ExpiresAt.Format(time.RFC3339)
			}
			fmt.Fprintf(a.stderr, "cloned %s as %s, valid %s\n", args[0], g.ID, until)
			fmt.Fprintln(a.stdout, g.ID)
			return nil
		})
	}
	return cmd
}

// policyCommand is `alter grant policy`: replace a grant's rules.
func (a *app) policyCommand() *cobra.Command {
	var hosts []string
	cmd := &cobra.Command{
		Use:   "policy ID [--allow-host H]... [rule flags]",
		Short: "Replace a grant's rules (destinations stay unless --allow-host is given)",
		Long: "policy replaces the optional rules of grant ID with the ones given: a rule not given is removed\n" +
			"(for a clone: becomes its parent's). Destinations stay unless --allow-host is given. A clone's new\n" +
			"rules must stay within its parent's. Narrowing a grant narrows its clones at once.",
		Args: exactArgs(1),
	}
	pf := addPolicyFlags(cmd.Flags())
	cmd.Flags().StringArrayVar(&hosts, "allow-host", nil, "destination the grant may reach, replacing the current ones (repeatable)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if pf.setsExpiry() {
			return usageError{fmt.Errorf("--ttl and --not-after set an expiry, which `grant policy` does not change; make a shorter-lived grant with `grant clone --ttl`")}
		}
		return a.withStore(func(s secretstore.Admin) error {
			g, err := s.Get(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			base := policy.Spec{Destinations: hosts}
			if len(hosts) == 0 {
				base.Destinations = g.Policy.Destinations
			}
			spec, _, err := pf.build(base, time.Now())
			if err != nil {
				return err
			}
			if err := s.SetPolicy(cmd.Context(), args[0], spec); err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "updated the policy of %s\n", args[0])
			return nil
		})
	}
	return cmd
}
