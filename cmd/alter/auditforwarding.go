package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

// auditForwardingCommand shows the control plane's SIEM targets: who
// sends to each, when a batch was last acknowledged, what waits.
func (a *app) auditForwardingCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "forwarding --server URL [--json]",
		Short: "Show how far the control plane's audit forwarding has got (needs --server)",
		Long: "forwarding lists the audit.forward targets of alter server: the replica that sends to each\n" +
			"(HOLDER), when its receiver last acknowledged a batch, and how many records wait for it\n" +
			"(PENDING; a growing number means the SIEM is falling behind or refusing, and audit.retention\n" +
			"keeps those records until it has them). A target a past config named is listed as not configured.",
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.serverClient()
			if err != nil {
				return err
			}
			if c == nil {
				return usageError{fmt.Errorf("audit forwarding reads the control plane: pass --server URL (or set %s)", envServer)}
			}
			targets, err := c.AuditForwarding(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				for _, t := range targets {
					if err := enc.Encode(t); err != nil {
						return err
					}
				}
				return nil
			}
			if len(targets) == 0 {
				fmt.Fprintln(a.stderr, "no audit.forward targets on the control plane")
				return nil
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tCONFIGURED\tHOLDER\tLAST FORWARDED\tPENDING")
			for _, t := range targets {
				holder, last, pending := t.Holder, "never", fmt.Sprint(t.Pending)
				if holder == "" {
					holder = "-"
				}
				if !t.ForwardedAt.IsZero() {
					last = t.ForwardedAt.UTC().Format(time.RFC3339)
				}
				if t.PendingMore {
					pending += "+"
				}
				fmt.Fprintf(tw, "%s\t%t\t%s\t%s\t%s\n", t.Name, t.Configured, holder, last, pending)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per target")
	return cmd
}
