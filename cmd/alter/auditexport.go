package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/alter-sidecar/alter/audit/export"
	"github.com/alter-sidecar/alter/config"
	"github.com/alter-sidecar/alter/server/storage"
)

// auditExportCommand is "alter audit export": the local logs (grant uses
// and the admin log, merged by time, oldest first) or, with --server, the
// control plane's trail (also oldest first, paged), as CSV or JSON lines
// on stdout. It streams: memory does not grow with the number of records.
func (a *app) auditExportCommand(configFile *string) *cobra.Command {
	var since, until, format string
	var f export.Filter
	cmd := &cobra.Command{
		Use:   "export [--since T] [--until T] [--grant ID] [--actor A] [--event E] --format csv|jsonl",
		Short: "Export grant uses and admin events as CSV or JSON lines",
		Long: "export writes every record of the local audit log (audit.path, when it is a file) and of the\n" +
			"admin log (audit.admin_path) that passes the filters, merged by time, oldest first; with\n" +
			"--server, the control plane's trail, also oldest first. The CSV columns (JSON lines use the same\n" +
			"keys) are: " + fmt.Sprint(export.Columns) + ".\n" +
			"--since and --until take an RFC 3339 time or a duration back from now; --event is grant_use\n" +
			"or an admin event (grant_revoke, portal_login, ...). A cell that a spreadsheet would run as a\n" +
			"formula (starting with = + - @, also after a ';') is prefixed with a single quote, and control\n" +
			"characters in CSV cells are written as escapes (\\x1b, \\n).",
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			now := time.Now()
			var err error
			if f.Since, err = timeOrAgo("--since", since, now); err != nil {
				return err
			}
			if f.Until, err = timeOrAgo("--until", until, now); err != nil {
				return err
			}
			w, err := export.NewWriter(a.stdout, format)
			if err != nil {
				return usageError{fmt.Errorf("--format: %w", err)}
			}
			if a.serverFlag != "" || os.Getenv(envServer) != "" {
				err = a.exportServer(cmd.Context(), w, f)
			} else {
				err = a.exportLocal(*configFile, w, f)
			}
			if cerr := w.Close(); err == nil {
				err = cerr
			}
			return err
		},
	}
	cmd.Flags().StringVar(&since, "since", "", "only records from this time on (RFC 3339, or a duration back from now)")
	cmd.Flags().StringVar(&until, "until", "", "only records before this time (RFC 3339, or a duration back from now)")
	cmd.Flags().StringVar(&f.GrantID, "grant", "", "only records of this grant id")
	cmd.Flags().StringVar(&f.Actor, "actor", "", "only records of this actor")
	cmd.Flags().StringVar(&f.Event, "event", "", "only records of this event (grant_use, grant_revoke, portal_login, ...)")
	cmd.Flags().StringVar(&format, "format", "", "csv or jsonl (required)")
	_ = cmd.MarkFlagRequired("format")
	return cmd
}

// exportLocal exports the local logs that exist.
func (a *app) exportLocal(configFile string, w *export.Writer, f export.Filter) error {
	cfg, _, _, err := a.loadConfig(configFile)
	if err != nil {
		return err
	}
	var logs []export.Log
	if p := cfg.Audit.Path; p != "stdout" && p != "stderr" && p != "" {
		if _, err := os.Stat(p); err == nil {
			logs = append(logs, export.Log{Source: "local", Path: p})
		}
	}
	if cfg.Store.Type == config.StoreFile {
		if _, err := os.Stat(cfg.Audit.AdminPath); err == nil {
			logs = append(logs, export.Log{Source: "admin", Path: cfg.Audit.AdminPath})
		}
	}
	if len(logs) == 0 {
		return errors.New("no local audit log to export: audit.path is not a file and there is no admin log yet (for the control plane's trail pass --server)")
	}
	skipped, err := export.Local(w, f, logs...)
	if skipped > 0 {
		fmt.Fprintf(a.stderr, "alter: skipped %s that could not be read (see alter audit verify)\n", plural(skipped, "line"))
	}
	return err
}

// exportServer pages through the control plane's trail, one page in
// memory at a time.
func (a *app) exportServer(ctx context.Context, w *export.Writer, f export.Filter) error {
	c, err := a.serverClient()
	if err != nil {
		return err
	}
	q := storage.AuditQuery{GrantID: f.GrantID, Actor: f.Actor, Event: f.Event, Since: f.Since, Until: f.Until, Limit: storage.MaxAuditLimit, Oldest: true}
	skipped := int64(0)
	for {
		page, err := c.QueryAudit(ctx, q)
		if err != nil {
			return err
		}
		for _, r := range page.Records {
			row, err := export.Stored(r.ID, r.Source, r.Event, r.Body)
			if err != nil {
				skipped++
				continue
			}
			if err := w.Write(row); err != nil {
				return err
			}
		}
		if page.Next == "" || len(page.Records) == 0 {
			break
		}
		q.Cursor = page.Next
	}
	if skipped > 0 {
		fmt.Fprintf(a.stderr, "alter: skipped %s that could not be read\n", plural(skipped, "record"))
	}
	return nil
}
