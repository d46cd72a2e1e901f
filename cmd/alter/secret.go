package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/secretstore"
)

func (a *app) secretCommand() *cobra.Command {
	secret := &cobra.Command{Use: "secret", Short: "Store secrets (write-only)"}
	var (
		name  string
		hosts []string
	)
	var flags *specFlags
	add := &cobra.Command{
		Use:   "add --type TYPE --allow-host HOST [flags] < secret",
		Short: "Store a secret read from stdin and print its new grant id",
		Long: "add reads the secret from standard input, never from arguments, seals it in the store and\n" +
			"prints the new grant id alone on standard output.\n\n" +
			"Types: bearer (field token), api_key (field api_key, needs --header), basic (fields username,\n" +
			"password), aws_sigv4 (access_key_id, secret_access_key, optional session_token; region and\n" +
			"service from the host or --param region=R --param service=S), custom (--field names plus\n" +
			"--set-header, --query-param, --basic, --path-segment and --default-header rules, or --spec FILE).\n" +
			"Several fields are read as KEY=VALUE lines or a JSON object.\n\n" +
			"--allow-host is repeatable: api.example.com means https on port 443; write http://host:port or\n" +
			"host:port for anything else; *.example.com matches one label.",
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if flags.typ == "" {
				return usageError{fmt.Errorf("--type is required (one of: %s)", strings.Join(inject.Types(), ", "))}
			}
			if len(hosts) == 0 {
				return usageError{fmt.Errorf("--allow-host is required: name at least one host the secret may be sent to")}
			}
			spec, err := flags.build()
			if err != nil {
				return err
			}
			injector, err := inject.Compile(spec)
			if err != nil {
				return err
			}
			pol := policy.Spec{Destinations: hosts}
			if _, err := policy.Compile(pol); err != nil {
				return err
			}
			want, _, _ := spec.FieldNames()
			cfg, _, _, err := a.loadConfig("")
			if err != nil {
				return err
			}
			store, err := openStore(cfg)
			if err != nil {
				return err
			}
			defer store.Close()
			fields, err := a.readFields(want)
			if err != nil {
				return err
			}
			if err := injector.CheckFields(fields); err != nil {
				return err
			}
			g, err := store.Add(cmd.Context(), secretstore.NewSecret{Spec: spec, Fields: fields, Name: name, Policy: pol})
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "stored %s secret %q for %s\n", spec.Type, name, strings.Join(destinationList(pol), ", "))
			fmt.Fprintln(a.stdout, g.ID)
			return nil
		},
	}
	flags = addSpecFlags(add.Flags())
	add.Flags().StringArrayVar(&hosts, "allow-host", nil, "destination the secret may be sent to (repeatable)")
	add.Flags().StringVar(&name, "name", "", "a name for people (not secret)")
	secret.AddCommand(add)
	return secret
}

// destinationList renders a policy's destinations in normalised form.
func destinationList(spec policy.Spec) []string {
	pol, err := policy.Compile(spec)
	if err != nil {
		return spec.Destinations
	}
	var out []string
	for _, d := range pol.Destinations() {
		out = append(out, d.String())
	}
	return out
}
