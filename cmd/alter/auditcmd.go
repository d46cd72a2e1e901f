package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/alter-sidecar/alter/audit"
	"github.com/alter-sidecar/alter/server/client"
	"github.com/alter-sidecar/alter/server/storage"
)

// auditCommand is "alter audit": checking and reading the durable log.
func (a *app) auditCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Verify and read the audit log"}
	var configFile string
	cmd.PersistentFlags().StringVar(&configFile, "config", "", "config file naming audit.path (default: config.yaml in the home)")

	var adminOnly bool
	verify := &cobra.Command{
		Use:   "verify [--admin] [FILE...]",
		Short: "Check the hash chain of the audit log and the admin log",
		Long: "verify checks that no record of the durable audit log was edited, removed, reordered,\n" +
			"inserted or cut off. Without FILE it checks audit.path from the config and its rotated\n" +
			"files, and the admin log (audit.admin_path: who changed what with the file store) when it\n" +
			"exists; --admin checks only the admin log. One FILE is a log to check with its rotated\n" +
			"files; several are checked exactly, oldest first. It prints OK and the record count, or\n" +
			"the first broken record and why (exit code 1).",
		RunE: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				if adminOnly {
					return usageError{errors.New("--admin checks audit.admin_path: pass it or FILE, not both")}
				}
				return a.verifyLog("", args...)
			}
			logs, err := a.logsToVerify(configFile, adminOnly)
			if err != nil {
				return err
			}
			for _, l := range logs {
				if err := a.verifyLog(l.label, l.path); err != nil {
					return err
				}
			}
			return nil
		},
	}
	verify.Flags().BoolVar(&adminOnly, "admin", false, "check only the admin log (audit.admin_path)")

	var grant, file, runID, tool string
	var since time.Duration
	var asJSON bool
	var n int
	tail := &cobra.Command{
		Use:   "tail [--grant ID] [--run-id ID] [--tool NAME] [--since DURATION] [--json] [-n N]",
		Short: "Print the last audit records",
		Long: "tail prints the last records of the audit log (audit.path, or --file), newest last,\n" +
			"as a table or, with --json, as the log's own lines. In a durable log every forwarded\n" +
			"request has two records: phase \"request\" before it is sent, \"response\" when it ends.\n" +
			"--run-id and --tool match the call context an application sent (X-Alter-Run-Id,\n" +
			"X-Alter-Tool) as recorded. With --server it reads the control plane's trail instead,\n" +
			"as alter audit query does.",
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if since < 0 || n < 0 {
				return usageError{errors.New("--since and -n must not be negative")}
			}
			if a.serverFlag != "" {
				if file != "" {
					return usageError{errors.New("--file reads a local log; --server reads the control plane's trail: pass one")}
				}
				q := storage.AuditQuery{GrantID: grant, RunID: runID, Tool: tool, Limit: n}
				if since > 0 {
					q.Since = time.Now().Add(-since)
				}
				if n == 0 {
					q.Limit = maxTailServer
				}
				return a.printServerAudit(cmd.Context(), q, asJSON)
			}
			path := file
			if path == "" {
				var err error
				if path, err = a.auditPath(configFile); err != nil {
					return err
				}
			}
			entries, bad, err := tailEntries(path, tailFilter{grant: grant, runID: runID, tool: tool, since: since, n: n}, time.Now())
			if err != nil {
				return err
			}
			if bad > 0 {
				fmt.Fprintf(a.stderr, "alter: skipped %s that could not be read (see alter audit verify)\n", plural(int64(bad), "line"))
			}
			return a.printEntries(entries, asJSON)
		},
	}
	tail.Flags().StringVar(&grant, "grant", "", "only records of this grant id")
	tail.Flags().StringVar(&runID, "run-id", "", "only records of this run (X-Alter-Run-Id)")
	tail.Flags().StringVar(&tool, "tool", "", "only records of this tool (X-Alter-Tool)")
	tail.Flags().DurationVar(&since, "since", 0, "only records from the last DURATION (e.g. 30m, 24h)")
	tail.Flags().BoolVar(&asJSON, "json", false, "print the records' JSON lines as stored")
	tail.Flags().IntVarP(&n, "lines", "n", 20, "how many records at most (0: all)")
	tail.Flags().StringVar(&file, "file", "", "audit log to read instead of audit.path")

	cmd.AddCommand(verify, tail, a.auditQueryCommand(), a.auditExportCommand(&configFile), a.auditForwardingCommand())
	return cmd
}

// auditQueryCommand is "alter audit query": the control plane's audit
// trail, every sidecar's records, filtered on the server.
func (a *app) auditQueryCommand() *cobra.Command {
	var q storage.AuditQuery
	var since, until string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "query --server URL [--grant ID] [--actor NAME] [--decision allow|deny] [--run-id ID] [--tool NAME] [--since T] [--until T] [--limit N] [--json]",
		Short: "Query the control plane's audit trail (needs --server)",
		Long: "query prints the audit records the sidecars shipped to the control plane, newest last, as\n" +
			"alter audit tail does for a local log: a table whose SOURCE column says who shipped each record\n" +
			"(app/token name, or server), or with --json the records' JSON lines. --since\n" +
			"and --until take a time (RFC 3339) or a duration back from now (30m, 24h).",
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			now := time.Now()
			var err error
			if q.Since, err = timeOrAgo("--since", since, now); err != nil {
				return err
			}
			if q.Until, err = timeOrAgo("--until", until, now); err != nil {
				return err
			}
			switch {
			case q.Decision != "" && q.Decision != audit.DecisionAllow && q.Decision != audit.DecisionDeny:
				return usageError{errors.New("--decision must be allow or deny")}
			case q.Limit < 1:
				return usageError{errors.New("--limit must be at least 1")}
			}
			return a.printServerAudit(cmd.Context(), q, asJSON)
		},
	}
	cmd.Flags().StringVar(&q.GrantID, "grant", "", "only records of this grant id")
	cmd.Flags().StringVar(&q.Actor, "actor", "", "only records of this actor")
	cmd.Flags().StringVar(&q.Decision, "decision", "", "only allow or deny records")
	cmd.Flags().StringVar(&q.RunID, "run-id", "", "only records of this run (X-Alter-Run-Id)")
	cmd.Flags().StringVar(&q.Tool, "tool", "", "only records of this tool (X-Alter-Tool)")
	cmd.Flags().StringVar(&q.Event, "event", "", "only records of this event (grant_use, grant_revoke, portal_login, ...)")
	cmd.Flags().StringVar(&since, "since", "", "only records from this time on (RFC 3339, or a duration back from now)")
	cmd.Flags().StringVar(&until, "until", "", "only records before this time (RFC 3339, or a duration back from now)")
	cmd.Flags().IntVar(&q.Limit, "limit", 20, "how many records at most (the newest)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the records' JSON lines")
	return cmd
}

// maxTailServer is how many records alter audit tail -n 0 --server reads:
// "all" of a control plane's trail is not a page anyone reads.
const maxTailServer = 10000

// printServerAudit prints the control plane's records matching q, newest
// last, as a table with their SOURCE or as JSON lines.
func (a *app) printServerAudit(ctx context.Context, q storage.AuditQuery, asJSON bool) error {
	c, err := a.serverClient()
	if err != nil {
		return err
	}
	if c == nil {
		return usageError{fmt.Errorf("audit query reads the control plane's trail: pass --server URL (or set %s); for a local log use alter audit tail", envServer)}
	}
	recs, err := queryAll(ctx, c, q)
	if err != nil {
		return err
	}
	entries := make([]audit.Entry, 0, len(recs))
	sources := make([]string, 0, len(recs))
	bad := 0
	for i := len(recs) - 1; i >= 0; i-- { // the server answers newest first
		e, err := audit.ParseEntry(recs[i].Body)
		if err != nil {
			bad++
			continue
		}
		entries = append(entries, e)
		sources = append(sources, recs[i].Source)
	}
	if bad > 0 {
		fmt.Fprintf(a.stderr, "alter: skipped %s that could not be read\n", plural(int64(bad), "record"))
	}
	if !asJSON {
		return writeAuditTable(a.stdout, entries, sources)
	}
	return a.printEntries(entries, asJSON)
}

// printEntries prints audit records as their stored JSON lines or as the
// table, for audit tail and audit query alike.
func (a *app) printEntries(entries []audit.Entry, asJSON bool) error {
	if !asJSON {
		return writeAuditTable(a.stdout, entries, nil)
	}
	for _, e := range entries {
		if _, err := fmt.Fprintf(a.stdout, "%s\n", e.Raw); err != nil {
			return err
		}
	}
	return nil
}

// queryAll pages through the server's answers until q.Limit records.
func queryAll(ctx context.Context, c *client.Client, q storage.AuditQuery) ([]storage.AuditRecord, error) {
	want := q.Limit
	var out []storage.AuditRecord
	for len(out) < want {
		q.Limit = min(want-len(out), storage.MaxAuditLimit)
		page, err := c.QueryAudit(ctx, q)
		if err != nil {
			return nil, err
		}
		out = append(out, page.Records...)
		if page.Next == "" || len(page.Records) == 0 {
			break
		}
		q.Cursor = page.Next
	}
	return out, nil
}

// timeOrAgo reads an RFC 3339 time or a duration back from now; "" is
// the zero time (no bound).
func timeOrAgo(flag, v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, usageError{fmt.Errorf("%s %q: want an RFC 3339 time (2026-01-02T15:04:05Z) or a duration such as 30m", flag, v)}
}

// verifyLog verifies one log and prints its report, headed by label
// when there is one.
func (a *app) verifyLog(label string, paths ...string) error {
	rep, err := audit.Verify(paths...)
	if p := (*audit.Problem)(nil); errors.As(err, &p) {
		return fmt.Errorf("%s broken: %w", orDefault(label, "audit log"), err)
	}
	if err != nil {
		return err
	}
	if label != "" {
		fmt.Fprintf(a.stdout, "%s %s:\n", label, paths[0])
	}
	printReport(a.stdout, rep)
	return nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

type logToVerify struct{ label, path string }

// logsToVerify is what verify checks without FILE: audit.path when it is
// a file, and the admin log when it exists (or, with adminOnly, just the
// admin log, which must exist).
func (a *app) logsToVerify(configFile string, adminOnly bool) ([]logToVerify, error) {
	cfg, _, _, err := a.loadConfig(configFile)
	if err != nil {
		return nil, err
	}
	_, adminErr := os.Stat(cfg.Audit.AdminPath)
	if adminOnly {
		return []logToVerify{{"", cfg.Audit.AdminPath}}, nil
	}
	var logs []logToVerify
	path, perr := a.auditPath(configFile)
	if perr == nil {
		logs = append(logs, logToVerify{"", path})
	}
	if adminErr == nil {
		label := ""
		if len(logs) > 0 {
			label = "admin log"
		}
		logs = append(logs, logToVerify{label, cfg.Audit.AdminPath})
	}
	if len(logs) == 0 {
		return nil, perr
	}
	return logs, nil
}

// auditPath is the configured audit log, which must be a file.
func (a *app) auditPath(configFile string) (string, error) {
	cfg, _, _, err := a.loadConfig(configFile)
	if err != nil {
		return "", err
	}
	switch p := cfg.Audit.Path; p {
	case "stdout", "stderr", "":
		return "", usageError{fmt.Errorf("audit.path is %q, not a file; name the log (alter audit verify FILE, alter audit tail --file FILE)", p)}
	default:
		return p, nil
	}
}

func printReport(w io.Writer, rep audit.Report) {
	fmt.Fprintf(w, "OK: %s in %s\n", plural(rep.Records, "record"), plural(int64(len(rep.Files)), "file"))
	if rep.Records > 0 {
		fmt.Fprintf(w, "last: record %d sha256 %s (a copy kept elsewhere detects a rewrite up to it)\n", rep.LastSeq, rep.LastHash)
	}
	if rep.FirstSeq > 1 {
		fmt.Fprintf(w, "note: the chain starts at record %d; earlier records are not in these files (removed by retention?)\n", rep.FirstSeq)
	}
	switch {
	case rep.Head == "":
		fmt.Fprintln(w, "note: no head file: records cut from the end would not be detected")
	case !rep.HeadChecked:
		fmt.Fprintf(w, "note: %s names a record before these files; only \"not cut short\" was checked\n", rep.Head)
	}
}

func plural(n int64, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.FormatInt(n, 10) + " " + word + "s"
}

// tailFilter selects records for alter audit tail.
type tailFilter struct {
	grant string
	runID string
	tool  string
	since time.Duration
	n     int // 0: all
}

// match reports whether e passes the filter's field tests.
func (f tailFilter) match(e audit.Entry) bool {
	return (f.grant == "" || e.GrantID == f.grant) && (f.runID == "" || e.RunID == f.runID) && (f.tool == "" || e.Tool == f.tool)
}

// tailEntries reads the log's files newest first until it has the last n
// matching records (or, with since, reaches older records), and returns
// them oldest first.
func tailEntries(path string, f tailFilter, now time.Time) ([]audit.Entry, int, error) {
	files, err := audit.Files(path)
	if err != nil {
		return nil, 0, err
	}
	var cutoff time.Time
	if f.since > 0 {
		cutoff = now.Add(-f.since)
	}
	var picked []audit.Entry
	bad := 0
	for i := len(files) - 1; i >= 0; i-- {
		entries, b, err := audit.ReadEntries(files[i])
		if err != nil {
			return nil, 0, err
		}
		bad += b
		var match []audit.Entry
		for _, e := range entries {
			if f.match(e) && (cutoff.IsZero() || !e.Time.Before(cutoff)) {
				match = append(match, e)
			}
		}
		picked = append(match, picked...)
		if f.n > 0 && len(picked) >= f.n {
			break
		}
		if !cutoff.IsZero() && len(entries) > 0 && entries[0].Time.Before(cutoff) {
			break
		}
	}
	if f.n > 0 && len(picked) > f.n {
		picked = picked[len(picked)-f.n:]
	}
	return picked, bad, nil
}

// writeAuditTable prints one row per record. Cells are escaped again: the
// file may have been edited to carry terminal control sequences. sources,
// when not nil, is each record's source on the control plane (who shipped
// it: "app/token name", or "server" for the server's own records), shown
// in a last column.
func writeAuditTable(w io.Writer, entries []audit.Entry, sources []string) error {
	phases, calls := false, false
	for _, e := range entries {
		phases = phases || e.Phase != ""
		calls = calls || e.RunID != "" || e.Tool != ""
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	cell := func(s string, max int) string {
		if s == "" {
			return "-"
		}
		return audit.Sanitize(s, max)
	}
	head := "TIME\tDECISION\tSTATUS\tGRANT\tMETHOD\tHOST\tPATH\tRULE"
	if phases {
		head = "TIME\tPHASE\tDECISION\tSTATUS\tGRANT\tMETHOD\tHOST\tPATH\tRULE"
	}
	if calls {
		head += "\tRUN\tTOOL"
	}
	if sources != nil {
		head += "\tSOURCE"
	}
	fmt.Fprintln(tw, head)
	for i, e := range entries {
		status := "-"
		if e.Status != 0 {
			status = strconv.Itoa(e.Status)
		}
		row := e.Time.UTC().Format(time.RFC3339) + "\t"
		if phases {
			row += cell(e.Phase, 16) + "\t"
		}
		row += fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s\t%s", cell(e.Decision, 16), status, cell(e.GrantID, 64),
			cell(e.Method, 16), cell(e.Host, audit.MaxHostBytes), cell(e.Path, audit.MaxPathBytes), cell(e.Rule, 64))
		if calls {
			row += "\t" + cell(e.RunID, audit.MaxContextBytes) + "\t" + cell(e.Tool, audit.MaxContextBytes)
		}
		if sources != nil {
			row += "\t" + cell(sources[i], 200)
		}
		fmt.Fprintln(tw, row)
	}
	return tw.Flush()
}
