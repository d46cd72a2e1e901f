package main

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/alter-sidecar/alter/audit"
)

// auditCommand is "alter audit": checking and reading the durable log.
func (a *app) auditCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Verify and read the audit log"}
	var configFile string
	cmd.PersistentFlags().StringVar(&configFile, "config", "", "config file naming audit.path (default: config.yaml in the home)")

	verify := &cobra.Command{
		Use:   "verify [FILE...]",
		Short: "Check the audit log's hash chain",
		Long: "verify checks that no record of the durable audit log was edited, removed, reordered,\n" +
			"inserted or cut off. Without FILE it checks audit.path from the config and its rotated\n" +
			"files; one FILE is a log to check with its rotated files; several are checked exactly,\n" +
			"oldest first. It prints OK and the record count, or the first broken record and why\n" +
			"(exit code 1).",
		RunE: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				path, err := a.auditPath(configFile)
				if err != nil {
					return err
				}
				args = []string{path}
			}
			rep, err := audit.Verify(args...)
			if p := (*audit.Problem)(nil); errors.As(err, &p) {
				return fmt.Errorf("audit log broken: %w", err)
			}
			if err != nil {
				return err
			}
			printReport(a.stdout, rep)
			return nil
		},
	}

	var grant, file string
	var since time.Duration
	var asJSON bool
	var n int
	tail := &cobra.Command{
		Use:   "tail [--grant ID] [--since DURATION] [--json] [-n N]",
		Short: "Print the last audit records",
		Long: "tail prints the last records of the audit log (audit.path, or --file), newest last,\n" +
			"as a table or, with --json, as the log's own lines. In a durable log every forwarded\n" +
			"request has two records: phase \"request\" before it is sent, \"response\" when it ends.",
		Args: exactArgs(0),
		RunE: func(_ *cobra.Command, _ []string) error {
			if since < 0 || n < 0 {
				return usageError{errors.New("--since and -n must not be negative")}
			}
			path := file
			if path == "" {
				var err error
				if path, err = a.auditPath(configFile); err != nil {
					return err
				}
			}
			entries, bad, err := tailEntries(path, tailFilter{grant: grant, since: since, n: n}, time.Now())
			if err != nil {
				return err
			}
			if bad > 0 {
				fmt.Fprintf(a.stderr, "alter: skipped %s that could not be read (see alter audit verify)\n", plural(int64(bad), "line"))
			}
			if asJSON {
				for _, e := range entries {
					if _, err := fmt.Fprintf(a.stdout, "%s\n", e.Raw); err != nil {
						return err
					}
				}
				return nil
			}
			return writeAuditTable(a.stdout, entries)
		},
	}
	tail.Flags().StringVar(&grant, "grant", "", "only records of this grant id")
	tail.Flags().DurationVar(&since, "since", 0, "only records from the last DURATION (e.g. 30m, 24h)")
	tail.Flags().BoolVar(&asJSON, "json", false, "print the records' JSON lines as stored")
	tail.Flags().IntVarP(&n, "lines", "n", 20, "how many records at most (0: all)")
	tail.Flags().StringVar(&file, "file", "", "audit log to read instead of audit.path")

	cmd.AddCommand(verify, tail)
	return cmd
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
	since time.Duration
	n     int // 0: all
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
			if (f.grant == "" || e.GrantID == f.grant) && (cutoff.IsZero() || !e.Time.Before(cutoff)) {
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
// file may have been edited to carry terminal control sequences.
func writeAuditTable(w io.Writer, entries []audit.Entry) error {
	phases := false
	for _, e := range entries {
		phases = phases || e.Phase != ""
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
	fmt.Fprintln(tw, head)
	for _, e := range entries {
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
		fmt.Fprintln(tw, row)
	}
	return tw.Flush()
}
