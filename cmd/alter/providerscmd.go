package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/alter-sidecar/alter/providers"
)

// providersCommand shows the built-in provider templates that
// "secret add --provider NAME" uses. It reads only the embedded catalog: no
// home directory, store or secret is involved.
func (a *app) providersCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "providers", Short: "List and show the built-in provider templates (secret add --provider)"}
	var listJSON, showJSON bool
	list := &cobra.Command{
		Use:   "list [--json]",
		Short: "List the providers: name, credential type, hosts",
		Args:  exactArgs(0),
		RunE: func(*cobra.Command, []string) error {
			all := providers.Catalog().List()
			if listJSON {
				views := make([]providerView, 0, len(all))
				for _, p := range all {
					views = append(views, newProviderView(p))
				}
				return writeJSON(a.stdout, views)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tAUTH\tHOSTS")
			for _, p := range all {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", p.Name, p.Kind(), strings.Join(p.Hosts, ", "))
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&listJSON, "json", false, "print JSON")
	show := &cobra.Command{
		Use:   "show NAME [--json]",
		Short: "Show what a provider asks for on stdin, its parameters, hosts and what it injects",
		Args:  exactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			p, err := providers.Catalog().Get(args[0])
			if err != nil {
				return err
			}
			if showJSON {
				return writeJSON(a.stdout, newProviderView(p))
			}
			return writeProvider(a.stdout, p)
		},
	}
	show.Flags().BoolVar(&showJSON, "json", false, "print JSON")
	cmd.AddCommand(list, show)
	return cmd
}

// providerView is the JSON form: the template plus the derived lines people
// read. It holds placeholders only; a template never carries a secret.
type providerView struct {
	*providers.Provider
	Auth    string   `json:"auth"`
	Injects []string `json:"injects"`
	Example string   `json:"example"`
}

func newProviderView(p *providers.Provider) providerView {
	return providerView{Provider: p, Auth: p.Kind(), Injects: p.Injects(), Example: exampleAdd(p)}
}

func writeProvider(w io.Writer, p *providers.Provider) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("provider:", p.Name+" ("+p.Title+")")
	row("docs:", p.Docs)
	row("auth:", p.Kind())
	for i, f := range p.Fields {
		desc := f.Description
		if f.Optional {
			desc += " (optional)"
		}
		row(label(i, "stdin:"), f.Name+": "+desc)
	}
	if len(p.Fields) > 1 {
		row("", "(give several fields as KEY=VALUE lines or a JSON object)")
	}
	if len(p.Params) == 0 {
		row("params:", "none")
	}
	for i, prm := range p.Params {
		need := "required"
		if !prm.Required() {
			need = "optional"
		}
		row(label(i, "params:"), fmt.Sprintf("%s (%s): %s", prm.Name, need, prm.Help()))
	}
	for i, h := range p.Hosts {
		row(label(i, "hosts:"), h)
	}
	for i, line := range p.Injects() {
		row(label(i, "injects:"), line)
	}
	row("example:", exampleAdd(p))
	return tw.Flush()
}

func label(i int, s string) string {
	if i == 0 {
		return s
	}
	return ""
}

// exampleAdd is the command a user would type, with example parameters.
func exampleAdd(p *providers.Provider) string {
	var params []string
	for name, v := range p.ExampleParams() {
		params = append(params, " --param "+name+"="+v)
	}
	sort.Strings(params)
	input := `printf %s "$SECRET"`
	if len(p.Fields) > 1 {
		var lines []string
		for _, f := range p.Fields {
			if !f.Optional {
				lines = append(lines, f.Name+"=...")
			}
		}
		input = "printf '" + strings.Join(lines, `\n`) + `\n'`
	}
	return input + " | alter secret add --provider " + p.Name + strings.Join(params, "")
}
