package providers

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/alter-sidecar/alter/inject"
)

func mustGet(t *testing.T, name string) *Provider {
	t.Helper()
	p, err := Catalog().Get(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBuildParamErrors(t *testing.T) {
	tests := []struct {
		name     string
		provider string
		params   map[string]string
		want     []string
	}{
		{"missing site lists the sites", "datadog", nil,
			[]string{"needs --param site=VALUE", "datadoghq.com", "datadoghq.eu", "us3.datadoghq.com", "us5.datadoghq.com", "ap1.datadoghq.com", "ddog-gov.com"}},
		{"site not in the list", "datadog", map[string]string{"site": "evil.example"}, []string{`site="evil.example"`, "not an allowed value", "one of: datadoghq.com"}},
		{"unknown param on a provider without params", "stripe", map[string]string{"region": "eu"}, []string{`no parameter "region"`, "takes no parameters"}},
		{"unknown param lists the known", "datadog", map[string]string{"site": "datadoghq.com", "sit": "x"}, []string{`no parameter "sit"`, "it takes: site (Datadog site"}},
		{"subdomain is one label", "shopify", map[string]string{"shop": "a.evil.example"}, []string{"not a valid dns label", "a single DNS label"}},
		{"subdomain cannot smuggle a host", "jira", map[string]string{"site": "x/y"}, []string{"not a valid dns label", "a single DNS label"}},
		{"mailchimp dc", "mailchimp", map[string]string{"dc": "us21.evil"}, []string{"does not match", "after the last '-'"}},
		{"no braces", "zendesk", map[string]string{"subdomain": "{x}"}, []string{"brace"}},
		{"no spaces or CRLF", "grafana", map[string]string{"stack": "a\r\nX-Evil: 1"}, []string{"control"}},
		{"gitlab host is a host", "gitlab", map[string]string{"host": "https://gitlab.example.com/x"}, []string{"not a valid host", "host name with an optional :port"}},
		{"gitlab host no wildcard", "gitlab", map[string]string{"host": "*.example.com"}, []string{"host name"}},
		{"aws endpoint needs region and service", "aws", map[string]string{"service": "s3", "endpoint": "storage.example.com"}, []string{"--param endpoint needs --param region and --param service"}},
		{"pinecone index host under pinecone.io", "pinecone", map[string]string{"index_host": "x.svc.y.evil.example"}, []string{"does not match"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := mustGet(t, tt.provider).Build(tt.params)
			if !errors.Is(err, ErrBadParam) {
				t.Fatalf("error %v, want ErrBadParam", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestBuildResults(t *testing.T) {
	tests := []struct {
		name         string
		provider     string
		params       map[string]string
		destinations []string
		check        func(t *testing.T, r Result)
	}{
		{"datadog site", "datadog", map[string]string{"site": "us5.datadoghq.com"}, []string{"api.us5.datadoghq.com"}, nil},
		{"gitlab default", "gitlab", nil, []string{"gitlab.com"}, nil},
		{"gitlab self-managed", "gitlab", map[string]string{"host": "git.example.com:8443"}, []string{"git.example.com:8443"}, nil},
		{"sentry region", "sentry", map[string]string{"host": "de.sentry.io"}, []string{"de.sentry.io"}, nil},
		{"pinecone control plane only", "pinecone", nil, []string{"api.pinecone.io"}, nil},
		{"pinecone index", "pinecone", map[string]string{"index_host": "idx-abc.svc.aped-4627-b74a.pinecone.io"},
			[]string{"api.pinecone.io", "idx-abc.svc.aped-4627-b74a.pinecone.io"}, nil},
		{"algolia app id in hosts and header", "algolia", map[string]string{"app_id": "ABC123"},
			[]string{"ABC123.algolia.net", "ABC123-dsn.algolia.net", "ABC123-1.algolianet.com", "ABC123-2.algolianet.com", "ABC123-3.algolianet.com"},
			func(t *testing.T, r Result) {
				if r.Spec.Defaults[0] != (inject.StaticHeader{Name: "X-Algolia-Application-Id", Value: "ABC123"}) {
					t.Fatalf("defaults %v", r.Spec.Defaults)
				}
			}},
		{"aws with no parameters: any endpoint, signed for the host's region and service", "aws", nil,
			[]string{"*.amazonaws.com", "*.amazonaws.com.cn", "*.*.amazonaws.com", "*.*.amazonaws.com.cn",
				"*.*.*.amazonaws.com", "*.*.*.amazonaws.com.cn", "*.*.*.*.amazonaws.com", "*.*.*.*.amazonaws.com.cn"},
			func(t *testing.T, r Result) {
				if r.Spec.Region != "" || r.Spec.Service != "" {
					t.Fatalf("spec %+v, want region and service read from the host", r.Spec)
				}
			}},
		{"aws region only", "aws", map[string]string{"region": "eu-west-1"},
			[]string{"*.eu-west-1.amazonaws.com", "*.*.eu-west-1.amazonaws.com", "*.*.*.eu-west-1.amazonaws.com"}, nil},
		{"aws us-east-1 covers the global names", "aws", map[string]string{"region": "us-east-1"},
			[]string{"*.us-east-1.amazonaws.com", "*.*.us-east-1.amazonaws.com", "*.*.*.us-east-1.amazonaws.com", "*.amazonaws.com", "*.s3.amazonaws.com"}, nil},
		{"aws China region", "aws", map[string]string{"region": "cn-north-1", "service": "sqs"},
			[]string{"sqs.cn-north-1.amazonaws.com.cn", "*.sqs.cn-north-1.amazonaws.com.cn", "sqs.dualstack.cn-north-1.amazonaws.com.cn", "*.sqs.dualstack.cn-north-1.amazonaws.com.cn"}, nil},
		{"aws service only", "aws", map[string]string{"service": "s3"},
			[]string{"s3.*.amazonaws.com", "s3.*.amazonaws.com.cn", "*.s3.*.amazonaws.com", "*.s3.*.amazonaws.com.cn",
				"s3.dualstack.*.amazonaws.com", "s3.dualstack.*.amazonaws.com.cn", "*.s3.dualstack.*.amazonaws.com", "*.s3.dualstack.*.amazonaws.com.cn",
				"s3.amazonaws.com", "s3.amazonaws.com.cn", "*.s3.amazonaws.com", "*.s3.amazonaws.com.cn"}, nil},
		{"aws regional", "aws", map[string]string{"region": "us-west-2", "service": "sqs"},
			[]string{"sqs.us-west-2.amazonaws.com", "*.sqs.us-west-2.amazonaws.com", "sqs.dualstack.us-west-2.amazonaws.com", "*.sqs.dualstack.us-west-2.amazonaws.com"},
			func(t *testing.T, r Result) {
				if r.Spec.Region != "us-west-2" || r.Spec.Service != "sqs" {
					t.Fatalf("spec %+v", r.Spec)
				}
				if !slices.Equal(r.Fields, []string{"access_key_id", "secret_access_key", "session_token"}) || !r.Optional["session_token"] {
					t.Fatalf("fields %v optional %v", r.Fields, r.Optional)
				}
			}},
		{"aws bedrock signs as bedrock", "aws", map[string]string{"region": "us-west-2", "service": "bedrock-runtime"},
			[]string{"bedrock-runtime.us-west-2.amazonaws.com", "*.bedrock-runtime.us-west-2.amazonaws.com", "bedrock-runtime.dualstack.us-west-2.amazonaws.com", "*.bedrock-runtime.dualstack.us-west-2.amazonaws.com"},
			func(t *testing.T, r Result) {
				if r.Spec.Service != "bedrock" {
					t.Fatalf("service %q, want bedrock", r.Spec.Service)
				}
			}},
		{"aws S3-compatible endpoint", "aws", map[string]string{"region": "auto", "service": "s3", "endpoint": "acct.r2.cloudflarestorage.com"},
			[]string{"acct.r2.cloudflarestorage.com"},
			func(t *testing.T, r Result) {
				if r.Spec.Region != "auto" || r.Spec.Service != "s3" {
					t.Fatalf("spec %+v", r.Spec)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := mustGet(t, tt.provider).Build(tt.params)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(r.Destinations, tt.destinations) {
				t.Fatalf("destinations %v, want %v", r.Destinations, tt.destinations)
			}
			if tt.check != nil {
				tt.check(t, r)
			}
		})
	}
}

// TestBuildLeavesTheTemplateAlone: the catalog is shared, so building must
// copy, never fill in the template itself.
func TestBuildLeavesTheTemplateAlone(t *testing.T) {
	p := mustGet(t, "algolia")
	a, _ := p.Build(map[string]string{"app_id": "AAA"})
	b, _ := p.Build(map[string]string{"app_id": "BBB"})
	if a.Spec.Defaults[0].Value != "AAA" || b.Spec.Defaults[0].Value != "BBB" || p.Inject.Defaults[0].Value != "{app_id}" {
		t.Fatalf("template changed: %v %v %v", a.Spec.Defaults, b.Spec.Defaults, p.Inject.Defaults)
	}
	a.Fields[0] = "changed"
	if r, _ := p.Build(map[string]string{"app_id": "AAA"}); r.Fields[0] != "api_key" {
		t.Fatal("a result shares its slices with the template")
	}
}

func TestInjectsNamesPlaceholdersOnly(t *testing.T) {
	got := strings.Join(mustGet(t, "pagerduty").Injects(), "\n")
	for _, w := range []string{"header Authorization: Token token={token}", "header Accept: application/vnd.pagerduty+json;version=2 (only if the client sent none)"} {
		if !strings.Contains(got, w) {
			t.Fatalf("Injects() = %q, lacks %q", got, w)
		}
	}
}

func TestParseParams(t *testing.T) {
	got, err := ParseParams([]string{"site=datadoghq.eu", "x=a=b"})
	if err != nil || got["site"] != "datadoghq.eu" || got["x"] != "a=b" {
		t.Fatalf("%v %v", got, err)
	}
	for _, bad := range [][]string{{"site"}, {"=x"}, {"a=1", "a=2"}} {
		if _, err := ParseParams(bad); !errors.Is(err, ErrBadParam) {
			t.Errorf("ParseParams(%q) error %v", bad, err)
		}
	}
}
