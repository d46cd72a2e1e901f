package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/providers"
	"github.com/alter-sidecar/alter/secretstore"
)

func (a *app) secretCommand() *cobra.Command {
	secret := &cobra.Command{Use: "secret", Short: "Store secrets (write-only)"}
	var (
		name, provider, app string
		hosts               []string
	)
	var flags *specFlags
	var pf *policyFlags
	add := &cobra.Command{
		Use:   "add (--provider NAME [--param K=V]... | --type TYPE --allow-host HOST [flags]) < secret",
		Short: "Store a secret read from stdin and print its new grant id",
		Long: "add reads the secret from standard input, never from arguments, seals it in the store and\n" +
			"prints the new grant id alone on standard output.\n\n" +
			"--provider NAME uses a built-in template (alter providers show NAME says which fields it reads\n" +
			"and which --param values it needs). Otherwise --type says how the secret is injected.\n\n" +
			"Types: bearer (field token), api_key (field api_key, needs --header), basic (fields username,\n" +
			"password), aws_sigv4 (access_key_id, secret_access_key, optional session_token; region and\n" +
			"service from the host or --param region=R --param service=S), custom (--field names plus\n" +
			"--set-header, --query-param, --basic, --path-segment and --default-header rules, or --spec FILE).\n" +
			"Minted types (the proxy exchanges the stored secret for a short-lived token and injects that):\n" +
			"oauth2_client_credentials (client_id, client_secret; --param token_url=, scope=, audience=,\n" +
			"resource=, client_auth=header|body), oauth2_refresh_token (client_id, optional client_secret,\n" +
			"refresh_token; rotated tokens are stored back), google_service_account (the JSON key on stdin;\n" +
			"scope= or audience= for an ID token), github_app (the PEM key; app_id=, installation_id=,\n" +
			"repositories=a,b, permissions=contents:read), jwt (key; algorithm=HS256|RS256|ES256, issuer=,\n" +
			"subject=, audience=, key_id=, lifetime=5m).\n" +
			"Several fields are read as KEY=VALUE lines or a JSON object.\n\n" +
			"--allow-host is repeatable: api.example.com means https on port 443; write http://host:port or\n" +
			"host:port for anything else; *.example.com matches one label.",
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			spec, pol, want, err := a.credentialFromFlags(flags, provider, hosts)
			if err != nil {
				return err
			}
			pol, expiry, err := pf.build(pol, time.Now())
			if err != nil {
				return err
			}
			injector, err := inject.Compile(spec)
			if err != nil {
				return err
			}
			if _, err := policy.Compile(pol); err != nil {
				return err
			}
			store, closeStore, err := a.adminStore(app)
			if err != nil {
				return err
			}
			defer closeStore()
			fields, err := a.readFields(want)
			if err != nil {
				return err
			}
			if err := injector.CheckFields(fields); err != nil {
				return err
			}
			g, err := store.Add(cmd.Context(), secretstore.NewSecret{Spec: spec, Provider: provider, Fields: fields, Name: name, Policy: pol, ExpiresAt: expiry})
			if err != nil {
				return err
			}
			kind := spec.Type
			if provider != "" {
				kind = provider
			}
			fmt.Fprintf(a.stderr, "stored %s secret %q for %s\n", kind, name, strings.Join(destinationList(pol), ", "))
			fmt.Fprintln(a.stdout, g.ID)
			return nil
		},
	}
	flags = addSpecFlags(add.Flags())
	pf = addPolicyFlags(add.Flags())
	add.Flags().StringVar(&provider, "provider", "", "a built-in provider template (alter providers list): fills the hosts and rules")
	add.Flags().StringArrayVar(&hosts, "allow-host", nil, "destination the secret may be sent to (repeatable)")
	add.Flags().StringVar(&name, "name", "", "a name for people (not secret)")
	add.Flags().StringVar(&app, "app", "", "with --server: the application whose sidecars may use the grant")
	secret.AddCommand(add)
	return secret
}

// credentialFromFlags returns how the secret is injected, where it may go
// and which fields to read from stdin: from a provider template, or from
// --type and its flags.
func (a *app) credentialFromFlags(flags *specFlags, provider string, hosts []string) (inject.Spec, policy.Spec, []string, error) {
	if provider != "" {
		if flags.typ != "" || len(hosts) > 0 {
			return inject.Spec{}, policy.Spec{}, nil, usageError{fmt.Errorf("--provider fills the type and hosts; do not combine it with --type or --allow-host")}
		}
		p, err := providers.Catalog().Get(provider)
		if err != nil {
			return inject.Spec{}, policy.Spec{}, nil, err
		}
		params, err := flags.paramMap()
		if err != nil {
			return inject.Spec{}, policy.Spec{}, nil, err
		}
		r, err := p.Build(params)
		if err != nil {
			return inject.Spec{}, policy.Spec{}, nil, err
		}
		return r.Spec, policy.Spec{Destinations: r.Destinations}, r.Fields, nil
	}
	if flags.typ == "" {
		return inject.Spec{}, policy.Spec{}, nil, usageError{fmt.Errorf("--provider or --type is required (types: %s; providers: alter providers list)", strings.Join(inject.Types(), ", "))}
	}
	if len(hosts) == 0 {
		return inject.Spec{}, policy.Spec{}, nil, usageError{fmt.Errorf("--allow-host is required: name at least one host the secret may be sent to")}
	}
	spec, err := flags.build()
	if err != nil {
		return inject.Spec{}, policy.Spec{}, nil, err
	}
	want, _, err := spec.FieldNames()
	return spec, policy.Spec{Destinations: hosts}, want, err
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
