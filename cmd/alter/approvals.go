package main

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/alter-sidecar/alter/approval"
	"github.com/alter-sidecar/alter/config"
)

// The approvals commands decide requests that a grant's approval rule
// holds (--require-approval). With the file store the approvals live
// beside the grants file, so a decision here reaches every proxy on this
// home within approval polling (a tenth of a second). With --server they
// go through the control plane's admin API (approvals_server.go), and the
// decision reaches the waiting sidecar within a second.

func (a *app) approvalsCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "approvals", Short: "List, approve and deny requests waiting for a person's approval"}
	var asJSON bool
	var grantID, status string
	list := &cobra.Command{
		Use:   "list [--grant ID] [--status pending|approved|denied|expired|used|all] [--json]",
		Short: "List approvals, newest first (pending ones unless --status says otherwise)",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := approval.Filter{GrantID: grantID, Status: status}
			switch status {
			case "all":
				f.Status = ""
			case approval.StatusPending, approval.StatusApproved, approval.StatusDenied, approval.StatusExpired, approval.StatusUsed:
			default:
				return usageError{fmt.Errorf("--status %q: want pending, approved, denied, expired, used or all", status)}
			}
			return a.withApprovals(func(s approval.Store) error {
				list, err := s.List(cmd.Context(), f, time.Now())
				if err != nil {
					return err
				}
				if asJSON {
					if list == nil {
						list = []approval.Approval{}
					}
					return writeJSON(a.stdout, list)
				}
				return a.printApprovals(list)
			})
		},
	}
	list.Flags().StringVar(&grantID, "grant", "", "only this grant's approvals")
	list.Flags().StringVar(&status, "status", approval.StatusPending, "only approvals with this status, or all")
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show one approval: the request, its body preview and the decision",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withApprovals(func(s approval.Store) error {
				ap, err := s.Get(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				ap.Status = ap.StatusAt(time.Now())
				return writeJSON(a.stdout, ap)
			})
		},
	}

	var note string
	var forD time.Duration
	decide := func(approve bool) func(cmd *cobra.Command, args []string) error {
		return func(cmd *cobra.Command, args []string) error {
			if !approve && cmd.Flags().Changed("for") {
				return usageError{errors.New("--for applies to approve, not deny")}
			}
			d := approval.Decision{Approve: approve, By: localActor(), Note: note, At: time.Now().UTC(), For: forD}
			return a.withApprovals(func(s approval.Store) error {
				ap, err := s.Decide(cmd.Context(), args[0], d)
				if err != nil {
					return err
				}
				verb := "denied"
				if approve {
					verb = "approved"
				}
				scope := "this request only"
				if ap.CoversUntil != nil {
					scope = fmt.Sprintf("every %s of grant %s under %s until %s", ap.Method, ap.GrantID, orAll(ap.Prefix), ap.CoversUntil.Format(time.RFC3339))
				}
				if !approve {
					scope = "the client gets 403 approval_denied"
				}
				by := d.By
				if ap.Decision != nil {
					by = ap.Decision.By // the server names the decider: its admin token's name
				}
				// The request is client-sent text: one terminal line, escaped.
				req := terminalText(ap.Method+" "+ap.Scheme+"://"+ap.Host+ap.Path, 120)
				fmt.Fprintf(a.stderr, "%s %s (%s) as %s: %s\n", verb, ap.ID, req, terminalText(by, 80), scope)
				return nil
			})
		}
	}
	approve := &cobra.Command{Use: "approve ID [--for D] [--note TEXT]", Short: "Let a held request through (and, with --for, the same grant, method and path prefix for that long)",
		Args: exactArgs(1), RunE: decide(true)}
	approve.Flags().DurationVar(&forD, "for", 0, "also let through every request of the same grant and method under the approval's path prefix for this long (e.g. 15m)")
	approve.Flags().StringVar(&note, "note", "", "why, for the record")
	deny := &cobra.Command{Use: "deny ID [--note TEXT]", Short: "Refuse a held request (the client gets 403 approval_denied)",
		Args: exactArgs(1), RunE: decide(false)}
	deny.Flags().StringVar(&note, "note", "", "why, for the record and for the client")
	deny.Flags().DurationVar(&forD, "for", 0, "not used by deny")
	_ = deny.Flags().MarkHidden("for")
	cmd.AddCommand(list, show, approve, deny)
	return cmd
}

func orAll(prefix string) string {
	if prefix == "" {
		return "/"
	}
	return prefix
}

// withApprovals opens the approvals of the configured store.
func (a *app) withApprovals(fn func(approval.Store) error) error {
	c, err := a.serverClient()
	if err != nil {
		return err
	}
	if c != nil {
		return fn(serverApprovals{c})
	}
	cfg, _, _, err := a.loadConfig("")
	if err != nil {
		return err
	}
	if cfg.Store.Type != config.StoreFile {
		return usageError{fmt.Errorf("the config's store is %s: approvals are kept by the file store only", cfg.Store.Type)}
	}
	st, err := openStore(cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	return fn(loggedApprovals{st.Approvals(), newAdminRecorder(cfg.Audit.AdminPath)})
}

func (a *app) printApprovals(list []approval.Approval) error {
	if len(list) == 0 {
		fmt.Fprintln(a.stderr, "no approvals")
		return nil
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tGRANT\tREQUEST\tACTOR\tREASON\tEXPIRES")
	for _, ap := range list {
		req := ap.Method + " " + ap.Scheme + "://" + ap.Host
		if ap.Port != 0 && strconv.Itoa(ap.Port) != map[string]string{"https": "443", "http": "80"}[ap.Scheme] {
			req += ":" + strconv.Itoa(ap.Port)
		}
		req += ap.Path
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ap.ID, ap.Status, ap.GrantID, terminalText(req, 60), dash(terminalText(ap.Actor, 40)), dash(strings.TrimSpace(terminalText(ap.Reason, 40))), ap.ExpiresAt.Format(time.RFC3339))
	}
	return tw.Flush()
}

// terminalText makes client-sent text safe for one terminal line: control
// characters shown escaped, at most n runes.
func terminalText(s string, n int) string {
	q := strconv.Quote(s)
	q = q[1 : len(q)-1]
	if r := []rune(q); len(r) > n {
		q = string(r[:n-1]) + "…"
	}
	return q
}

// localActor is who decides from this shell: the OS user and host. A
// file-store operator can claim any name (they hold the master key).
func localActor() string {
	name := "unknown"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		name += "@" + h
	}
	return name
}
