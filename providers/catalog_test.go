package providers

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/policy"
)

// documented are the providers of PROVIDERS.md; the catalog must hold all.
var documented = []string{
	"airtable", "algolia", "anthropic", "aws", "brevo", "cloudflare", "datadog", "digitalocean", "discord",
	"elevenlabs", "fal", "freshdesk", "gemini", "github", "gitlab", "google_maps", "grafana", "groq", "hubspot",
	"intercom", "jira", "linear", "mailchimp", "mailgun", "mistral", "newrelic", "notion", "okta", "openai",
	"pagerduty", "perplexity", "pinecone", "postmark", "replicate", "resend", "sendgrid", "sentry", "shopify",
	"slack", "stripe", "supabase", "telegram", "twilio", "twitch", "vercel", "xai", "zendesk",
}

func TestEmbeddedCatalog(t *testing.T) {
	c, err := Load(embedded)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range c.List() {
		names = append(names, p.Name)
	}
	if !slices.IsSorted(names) {
		t.Fatalf("List is not sorted: %v", names)
	}
	for _, n := range documented {
		if !slices.Contains(names, n) {
			t.Errorf("provider %s from PROVIDERS.md is missing", n)
		}
	}
	if Catalog() == nil || len(Catalog().List()) != len(names) {
		t.Fatal("Catalog() differs from Load(embedded)")
	}
}

// TestEveryProviderBuilds: each template, with the parameters a user must
// give, yields a spec the injector compiles, destinations the policy
// parses, and exactly the fields its entry documents.
func TestEveryProviderBuilds(t *testing.T) {
	for _, p := range Catalog().List() {
		t.Run(p.Name, func(t *testing.T) {
			r, err := p.Build(p.ExampleParams())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := inject.Compile(r.Spec); err != nil {
				t.Fatal(err)
			}
			if len(r.Destinations) == 0 {
				t.Fatal("no destinations")
			}
			for _, d := range r.Destinations {
				if _, err := policy.ParseDestination(d); err != nil {
					t.Fatal(err)
				}
				if strings.ContainsAny(d, "{}") {
					t.Fatalf("destination %q still has a placeholder", d)
				}
			}
			if _, err := policy.Compile(policy.Spec{Destinations: r.Destinations}); err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, f := range p.Fields {
				want = append(want, f.Name)
				if r.Optional[f.Name] != f.Optional {
					t.Fatalf("field %s optional = %v, documented %v", f.Name, r.Optional[f.Name], f.Optional)
				}
			}
			if !slices.Equal(r.Fields, want) {
				t.Fatalf("fields %v, documented %v", r.Fields, want)
			}
			if len(p.Injects()) == 0 || p.Title == "" || p.Docs == "" {
				t.Fatal("no description of what is injected, no title or no docs")
			}
		})
	}
}

func TestGetUnknown(t *testing.T) {
	tests := []struct{ name, want string }{
		{"strpe", "did you mean stripe"},
		{"git", "github, github_app, gitlab"},
		{"nosuchthing", "known: airtable, algolia"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Catalog().Get(tt.name)
			if !errors.Is(err, ErrUnknownProvider) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
	if p, err := Catalog().Get(" Stripe "); err != nil || p.Name != "stripe" {
		t.Fatalf("case and spaces: %v", err)
	}
}

func TestBroken(t *testing.T) {
	tests := map[string]string{
		"unknown_key.yaml":      "field formt not found",
		"bad_version.yaml":      "version: want 1",
		"field_mismatch.yaml":   "type bearer reads [token]",
		"param_unused.yaml":     "params.site: used by no host",
		"host_placeholder.yaml": "{site}, which is not a parameter",
		"bad_pattern.yaml":      "params.site: pattern",
		"no_example.yaml":       "needs an example",
		"duplicate.yaml":        `name "x" used twice`,
		"bad_header.yaml":       "not a valid header name",
		"unused_field.yaml":     `field "extra" is used by no rule`,
		"bad_host.yaml":         "a wildcard must be a whole label",
		"two_documents.yaml":    "more than one YAML document",
		"bad_default.yaml":      "default \"c.test\": not an allowed value",
		"unknown_hook.yaml":     `hook "gcp" is unknown`,
		"multiline_docs.yaml":   "docs: one non-empty line",
	}
	for file, want := range tests {
		t.Run(file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", file))
			if err != nil {
				t.Fatal(err)
			}
			_, err = Load(data)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("Load error = %v, want one containing %q", err, want)
			}
		})
	}
}
