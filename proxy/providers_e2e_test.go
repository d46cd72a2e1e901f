package proxy

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/providers"
)

// These tests store every catalog provider the way "secret add --provider"
// does (template + parameters -> spec and destinations), send a request
// through the proxy to the provider's real host name (pinned to a local
// TLS upstream) and compare what arrived with the provider's documented
// auth format, written out here by hand rather than derived from the
// catalog, so a wrong template fails.

// fieldValue is the unique sentinel stored for a field.
func fieldValue(field string) string { return sentinel + "-" + field }

// basicAuth is the Authorization value for user:password.
func basicAuth(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

type providerCase struct {
	name     string            // case name; the provider's name for its main case
	provider string            // catalog name
	params   map[string]string // nil: the provider's example parameters
	optional bool              // also store the optional fields
	host     string            // request host: a real host name of the provider
	target   string            // path and query the client sends; "/v1/test" when empty
	send     http.Header       // headers the client sends besides X-Alter-Grant
	want     map[string]string // headers the upstream must get, exactly (beyond what the client sent)
	path     string            // path the upstream must see; target's path when empty
	query    string            // query the upstream must see; target's query when empty
	check    func(t *testing.T, v upstreamView)
}

var (
	tok    = fieldValue("token")
	apiKey = fieldValue("api_key")
)

func bearerCase(provider, host string) providerCase {
	return providerCase{name: provider, provider: provider, host: host, want: map[string]string{"Authorization": "Bearer " + tok}}
}

func headerCase(provider, host, header, value string) providerCase {
	return providerCase{name: provider, provider: provider, host: host, want: map[string]string{header: value}}
}

var providerCases = []providerCase{
	bearerCase("airtable", "api.airtable.com"),
	{name: "algolia", provider: "algolia", params: map[string]string{"app_id": "LATENCY1AB"}, host: "latency1ab-dsn.algolia.net",
		want: map[string]string{"X-Algolia-Api-Key": apiKey, "X-Algolia-Application-Id": "LATENCY1AB"}},
	{name: "anthropic", provider: "anthropic", host: "api.anthropic.com", target: "/v1/messages",
		want: map[string]string{"X-Api-Key": apiKey, "Anthropic-Version": "2023-06-01"}},
	{name: "anthropic keeps the client's version", provider: "anthropic", host: "api.anthropic.com", target: "/v1/messages",
		send: http.Header{"Anthropic-Version": {"2024-01-01"}}, want: map[string]string{"X-Api-Key": apiKey}},
	awsCase("aws", map[string]string{"region": "eu-west-1", "service": "sqs"}, "sqs.eu-west-1.amazonaws.com", "eu-west-1", "sqs", false),
	awsCase("aws session token", map[string]string{"region": "us-east-2", "service": "dynamodb"}, "dynamodb.us-east-2.amazonaws.com", "us-east-2", "dynamodb", true),
	awsCase("aws s3 virtual-hosted bucket", map[string]string{"region": "us-east-1", "service": "s3"}, "my-bucket.s3.us-east-1.amazonaws.com", "us-east-1", "s3", false),
	awsCase("aws bedrock-runtime signs as bedrock", map[string]string{"region": "us-west-2", "service": "bedrock-runtime"}, "bedrock-runtime.us-west-2.amazonaws.com", "us-west-2", "bedrock", false),
	awsCase("aws S3-compatible endpoint", map[string]string{"region": "auto", "service": "s3", "endpoint": "storage.example.test"}, "storage.example.test", "auto", "s3", false),
	headerCase("brevo", "api.brevo.com", "Api-Key", apiKey),
	bearerCase("cloudflare", "api.cloudflare.com"),
	{name: "datadog", provider: "datadog", params: map[string]string{"site": "datadoghq.eu"}, host: "api.datadoghq.eu",
		want: map[string]string{"Dd-Api-Key": apiKey, "Dd-Application-Key": fieldValue("app_key")}},
	{name: "datadog us5", provider: "datadog", params: map[string]string{"site": "us5.datadoghq.com"}, host: "api.us5.datadoghq.com",
		want: map[string]string{"Dd-Api-Key": apiKey, "Dd-Application-Key": fieldValue("app_key")}},
	bearerCase("digitalocean", "api.digitalocean.com"),
	headerCase("discord", "discord.com", "Authorization", "Bot "+tok),
	headerCase("elevenlabs", "api.elevenlabs.io", "Xi-Api-Key", apiKey),
	headerCase("fal", "queue.fal.run", "Authorization", "Key "+apiKey),
	{name: "freshdesk", provider: "freshdesk", params: map[string]string{"subdomain": "acme"}, host: "acme.freshdesk.com",
		want: map[string]string{"Authorization": basicAuth(apiKey, "X")}},
	{name: "gemini", provider: "gemini", host: "generativelanguage.googleapis.com", target: "/v1beta/models?pageSize=5",
		query: "pageSize=5&key=" + apiKey},
	{name: "github", provider: "github", host: "api.github.com", target: "/user",
		want: map[string]string{"Authorization": "Bearer " + tok, "X-Github-Api-Version": "2022-11-28"}},
	{name: "github keeps the client's API version", provider: "github", host: "uploads.github.com",
		send: http.Header{"X-Github-Api-Version": {"2026-03-10"}}, want: map[string]string{"Authorization": "Bearer " + tok}},
	headerCase("gitlab", "gitlab.com", "Private-Token", tok),
	{name: "gitlab self-managed", provider: "gitlab", params: map[string]string{"host": "git.example.test"}, host: "git.example.test",
		want: map[string]string{"Private-Token": tok}},
	{name: "google_maps", provider: "google_maps", host: "maps.googleapis.com", target: "/maps/api/geocode/json?address=Berlin&key=client-key&language=de",
		query: "address=Berlin&language=de&key=" + apiKey},
	{name: "grafana", provider: "grafana", params: map[string]string{"stack": "acme"}, host: "acme.grafana.net",
		want: map[string]string{"Authorization": "Bearer " + tok}},
	bearerCase("groq", "api.groq.com"),
	bearerCase("hubspot", "api.hubapi.com"),
	bearerCase("intercom", "api.eu.intercom.io"),
	{name: "jira", provider: "jira", params: map[string]string{"site": "acme"}, host: "acme.atlassian.net",
		want: map[string]string{"Authorization": basicAuth(fieldValue("email"), fieldValue("api_token"))}},
	headerCase("linear", "api.linear.app", "Authorization", apiKey),
	{name: "mailchimp", provider: "mailchimp", params: map[string]string{"dc": "us21"}, host: "us21.api.mailchimp.com",
		want: map[string]string{"Authorization": basicAuth("anystring", apiKey)}},
	{name: "mailgun", provider: "mailgun", host: "api.eu.mailgun.net", want: map[string]string{"Authorization": basicAuth("api", apiKey)}},
	bearerCase("mistral", "api.mistral.ai"),
	headerCase("newrelic", "api.newrelic.com", "Api-Key", apiKey),
	{name: "notion", provider: "notion", host: "api.notion.com",
		want: map[string]string{"Authorization": "Bearer " + tok, "Notion-Version": "2022-06-28"}},
	{name: "notion keeps the client's version", provider: "notion", host: "api.notion.com",
		send: http.Header{"Notion-Version": {"2025-09-03"}}, want: map[string]string{"Authorization": "Bearer " + tok}},
	{name: "okta", provider: "okta", params: map[string]string{"org": "acme"}, host: "acme.okta.com",
		want: map[string]string{"Authorization": "SSWS " + tok}},
	bearerCase("openai", "api.openai.com"),
	{name: "pagerduty", provider: "pagerduty", host: "api.pagerduty.com",
		want: map[string]string{"Authorization": "Token token=" + tok, "Accept": "application/vnd.pagerduty+json;version=2"}},
	bearerCase("perplexity", "api.perplexity.ai"),
	headerCase("pinecone", "api.pinecone.io", "Api-Key", apiKey),
	{name: "pinecone index host", provider: "pinecone", params: map[string]string{"index_host": "idx-abc.svc.aped-4627-b74a.pinecone.io"},
		host: "idx-abc.svc.aped-4627-b74a.pinecone.io", want: map[string]string{"Api-Key": apiKey}},
	headerCase("postmark", "api.postmarkapp.com", "X-Postmark-Server-Token", apiKey),
	bearerCase("replicate", "api.replicate.com"),
	bearerCase("resend", "api.resend.com"),
	bearerCase("sendgrid", "api.sendgrid.com"),
	bearerCase("sentry", "sentry.io"),
	headerCase("shopify", "acme.myshopify.com", "X-Shopify-Access-Token", tok),
	bearerCase("slack", "slack.com"),
	{name: "stripe", provider: "stripe", host: "api.stripe.com", target: "/v1/charges?limit=3",
		send: http.Header{"Authorization": {"Bearer app-chosen"}}, want: map[string]string{"Authorization": "Bearer " + tok}},
	{name: "supabase", provider: "supabase", params: map[string]string{"project": "abcdefghijklmnopqrst"}, host: "abcdefghijklmnopqrst.supabase.co",
		want: map[string]string{"Apikey": apiKey, "Authorization": "Bearer " + apiKey}},
	{name: "telegram", provider: "telegram", host: "api.telegram.org", target: "/getMe", path: "/bot" + tok + "/getMe"},
	{name: "twilio", provider: "twilio", host: "api.twilio.com", target: "/2010-04-01/Accounts.json",
		want: map[string]string{"Authorization": basicAuth(fieldValue("account_sid"), fieldValue("auth_token"))}},
	{name: "twitch", provider: "twitch", host: "api.twitch.tv", target: "/helix/users",
		want: map[string]string{"Authorization": "Bearer " + tok, "Client-Id": fieldValue("client_id")}},
	bearerCase("vercel", "api.vercel.com"),
	bearerCase("xai", "api.x.ai"),
	{name: "zendesk", provider: "zendesk", params: map[string]string{"subdomain": "acme"}, host: "acme.zendesk.com",
		want: map[string]string{"Authorization": basicAuth(fieldValue("email")+"/token", fieldValue("api_token"))}},
}

// awsCase checks the signature's shape; the signature itself is verified
// independently elsewhere.
func awsCase(name string, params map[string]string, host, region, service string, session bool) providerCase {
	return providerCase{name: name, provider: "aws", params: params, optional: session, host: host, target: "/?Action=ListQueues",
		check: func(t *testing.T, v upstreamView) {
			date := one(t, v.Headers, "X-Amz-Date")
			if ts, err := time.Parse("20060102T150405Z", date); err != nil || time.Since(ts).Abs() > time.Hour {
				t.Fatalf("X-Amz-Date %q is not a current SigV4 time", date)
			}
			prefix := "AWS4-HMAC-SHA256 Credential=" + fieldValue("access_key_id") + "/" + date[:8] + "/" + region + "/" + service + "/aws4_request, SignedHeaders="
			if got := one(t, v.Headers, "Authorization"); !strings.HasPrefix(got, prefix) || !strings.Contains(got, ", Signature=") {
				t.Fatalf("Authorization = %q, want prefix %q", got, prefix)
			}
			names := []string{"Accept-Encoding", "User-Agent", "Authorization", "X-Amz-Date"}
			if session {
				if got := one(t, v.Headers, "X-Amz-Security-Token"); got != fieldValue("session_token") {
					t.Fatalf("X-Amz-Security-Token = %q", got)
				}
				names = append(names, "X-Amz-Security-Token")
			}
			if service == "s3" {
				one(t, v.Headers, "X-Amz-Content-Sha256")
				names = append(names, "X-Amz-Content-Sha256")
			}
			assertHeaderSet(t, v.Headers, names...)
		}}
}

func one(t *testing.T, h map[string][]string, name string) string {
	t.Helper()
	if vs := h[name]; len(vs) == 1 {
		return vs[0]
	}
	t.Fatalf("upstream header %s = %q, want one value", name, h[name])
	return ""
}

func TestProvidersEndToEnd(t *testing.T) {
	for _, tc := range providerCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := providers.Catalog().Get(tc.provider)
			if err != nil {
				t.Fatal(err)
			}
			params := tc.params
			if params == nil {
				params = p.ExampleParams()
			}
			r, err := p.Build(params)
			if err != nil {
				t.Fatal(err)
			}
			fields := inject.Fields{}
			for _, f := range r.Fields {
				if !r.Optional[f] || tc.optional {
					fields[f] = fieldValue(f)
				}
			}
			e := newEnv(t)
			e.tlsUpstream(tc.host, nil)
			e.addGrant(grantA, r.Spec, fields, r.Destinations...)

			target := tc.target
			if target == "" {
				target = "/v1/test"
			}
			header := http.Header{"X-Alter-Grant": {grantA}}
			for k, vs := range tc.send {
				header[k] = vs
			}
			resp, body := e.do("GET", "https://"+tc.host+target, header)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			v := decodeView(t, body)
			clientPath, clientQuery, _ := strings.Cut(target, "?")
			wantPath, wantQuery := orDefault(tc.path, clientPath), orDefault(tc.query, clientQuery)
			if v.Path != wantPath || v.Query != wantQuery || !strings.EqualFold(v.Host, tc.host) || !v.TLS {
				t.Fatalf("upstream saw host %q path %q query %q tls %v, want %q %q %q", v.Host, v.Path, v.Query, v.TLS, tc.host, wantPath, wantQuery)
			}
			if tc.provider == "aws" {
				tc.check(t, v)
			} else {
				assertProviderHeaders(t, v.Headers, tc)
			}
			rec := e.waitAudit(1)[0]
			if rec.Path != clientPath || rec.Status != 200 {
				t.Fatalf("audit path %q status %d, want the client's path %q", rec.Path, rec.Status, clientPath)
			}
			e.checkLogsAndAudit()
		})
	}
}

// assertProviderHeaders compares the whole header set: the injected headers
// with their exact values, the client's own headers unless injection
// replaced them, and nothing else.
func assertProviderHeaders(t *testing.T, got map[string][]string, tc providerCase) {
	t.Helper()
	names := []string{"Accept-Encoding", "User-Agent"}
	for k, want := range tc.want {
		if g := one(t, got, k); g != want {
			t.Fatalf("upstream %s = %q, want %q", k, g, want)
		}
		names = append(names, k)
	}
	for k, vs := range tc.send {
		if _, injected := tc.want[k]; injected {
			continue
		}
		if g := one(t, got, k); g != vs[0] {
			t.Fatalf("upstream %s = %q, want the client's %q kept", k, g, vs[0])
		}
		names = append(names, k)
	}
	assertHeaderSet(t, got, names...)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// TestProvidersEndToEndCoversCatalog: every provider has a case named after it.
func TestProvidersEndToEndCoversCatalog(t *testing.T) {
	named := map[string]bool{}
	for _, tc := range providerCases {
		if tc.name == tc.provider {
			named[tc.name] = true
		}
	}
	for _, p := range providers.Catalog().List() {
		if inject.IsMinted(p.Kind()) {
			continue // the token is minted: mint's stand-in tests and TestMintedCredentialEndToEnd
		}
		if !named[p.Name] {
			t.Errorf("provider %s has no end-to-end case named %q", p.Name, p.Name)
		}
	}
}
