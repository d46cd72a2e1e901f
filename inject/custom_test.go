package inject

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestCustomRules(t *testing.T) {
	tests := []struct {
		name      string
		spec      Spec
		fields    Fields
		url       string
		client    http.Header
		wantURL   string
		wantHdr   map[string]string
		wantNoHdr []string
	}{
		{
			name:    "two headers from two fields",
			spec:    Spec{Type: TypeCustom, Fields: []string{"api_key", "app_key"}, Headers: []Rule{{"DD-API-KEY", "{api_key}"}, {"DD-APPLICATION-KEY", "{app_key}"}}},
			fields:  Fields{"api_key": "K", "app_key": "A"},
			url:     "https://api.datadoghq.com/api/v1/validate",
			wantURL: "https://api.datadoghq.com/api/v1/validate",
			wantHdr: map[string]string{"Dd-Api-Key": "K", "Dd-Application-Key": "A"},
		},
		{
			name:    "query parameter appended, others kept byte for byte",
			spec:    Spec{Type: TypeCustom, Fields: []string{"api_key"}, Query: []Rule{{"key", "{api_key}"}}},
			fields:  Fields{"api_key": "s3cr&t=x"},
			url:     "https://maps.googleapis.com/maps/api/geocode/json?address=a%20b&key=client&z=%2F",
			wantURL: "https://maps.googleapis.com/maps/api/geocode/json?address=a%20b&z=%2F&key=s3cr%26t%3Dx",
		},
		{
			name:    "query parameter replaces an escaped spelling of the same key",
			spec:    Spec{Type: TypeCustom, Fields: []string{"api_key"}, Query: []Rule{{"key", "{api_key}"}}},
			fields:  Fields{"api_key": "S"},
			url:     "https://x.example/p?%6Bey=client",
			wantURL: "https://x.example/p?key=S",
		},
		{
			name:    "path segment inserted",
			spec:    Spec{Type: TypeCustom, Fields: []string{"token"}, Path: "bot{token}"},
			fields:  Fields{"token": "123:ABC"},
			url:     "https://api.telegram.org/getMe",
			wantURL: "https://api.telegram.org/bot123:ABC/getMe",
		},
		{
			name:    "path placeholder segment replaced",
			spec:    Spec{Type: TypeCustom, Fields: []string{"token"}, Path: "bot{token}"},
			fields:  Fields{"token": "123:ABC"},
			url:     "https://api.telegram.org/botPLACEHOLDER/sendMessage?chat_id=1",
			wantURL: "https://api.telegram.org/bot123:ABC/sendMessage?chat_id=1",
		},
		{
			name:    "path token with a slash is escaped, not a new segment",
			spec:    Spec{Type: TypeCustom, Fields: []string{"token"}, Path: "bot{token}"},
			fields:  Fields{"token": "a/b"},
			url:     "https://api.telegram.org/bot/getMe",
			wantURL: "https://api.telegram.org/bota%2Fb/getMe",
		},
		{
			name:    "basic from a template",
			spec:    Spec{Type: TypeCustom, Fields: []string{"api_key"}, Basic: "api:{api_key}"},
			fields:  Fields{"api_key": "K"},
			url:     "https://api.mailgun.net/v3/domains",
			wantURL: "https://api.mailgun.net/v3/domains",
			wantHdr: map[string]string{"Authorization": "Basic YXBpOks="},
		},
		{
			name:    "defaults only when the client sent none",
			spec:    Spec{Type: TypeCustom, Fields: []string{"api_key"}, Headers: []Rule{{"x-api-key", "{api_key}"}}, Defaults: []StaticHeader{{"anthropic-version", "2023-06-01"}, {"X-Extra", "1"}}},
			fields:  Fields{"api_key": "K"},
			url:     "https://api.anthropic.com/v1/messages",
			client:  http.Header{"anthropic-version": {"2024-01-01"}},
			wantURL: "https://api.anthropic.com/v1/messages",
			wantHdr: map[string]string{"X-Api-Key": "K", "anthropic-version": "2024-01-01", "X-Extra": "1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := Compile(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			if err := in.CheckFields(tt.fields); err != nil {
				t.Fatal(err)
			}
			req, _ := http.NewRequest("GET", tt.url, nil)
			for k, v := range tt.client {
				req.Header[k] = v
			}
			if err := in.Apply(req, tt.fields, Env{}); err != nil {
				t.Fatal(err)
			}
			if got := req.URL.String(); got != tt.wantURL {
				t.Fatalf("URL = %s, want %s", got, tt.wantURL)
			}
			for k, want := range tt.wantHdr {
				if got := req.Header[k]; len(got) != 1 || got[0] != want {
					t.Fatalf("header %s = %q, want %q (all: %v)", k, got, want, req.Header)
				}
			}
		})
	}
}

func TestCustomSpecRefused(t *testing.T) {
	for name, spec := range map[string]Spec{
		"no fields":             {Type: TypeCustom, Headers: []Rule{{"X-Key", "{k}"}}},
		"no rules":              {Type: TypeCustom, Fields: []string{"k"}},
		"field unused":          {Type: TypeCustom, Fields: []string{"k", "unused"}, Headers: []Rule{{"X-Key", "{k}"}}},
		"bad field name":        {Type: TypeCustom, Fields: []string{"K-1"}, Headers: []Rule{{"X-Key", "{K-1}"}}},
		"duplicate field":       {Type: TypeCustom, Fields: []string{"k", "k"}, Headers: []Rule{{"X-Key", "{k}"}}},
		"duplicate header":      {Type: TypeCustom, Fields: []string{"k"}, Headers: []Rule{{"X-Key", "{k}"}, {"x-key", "{k}"}}},
		"basic and auth header": {Type: TypeCustom, Fields: []string{"k"}, Basic: "u:{k}", Headers: []Rule{{"Authorization", "{k}"}}},
		"basic without colon":   {Type: TypeCustom, Fields: []string{"k"}, Basic: "{k}"},
		"query name with &":     {Type: TypeCustom, Fields: []string{"k"}, Query: []Rule{{"a&b", "{k}"}}},
		"path with slash":       {Type: TypeCustom, Fields: []string{"k"}, Path: "bot/{k}"},
		"default with CRLF":     {Type: TypeCustom, Fields: []string{"k"}, Headers: []Rule{{"X-Key", "{k}"}}, Defaults: []StaticHeader{{"X-V", "1\r\nX-Evil: 2"}}},
		"default with field":    {Type: TypeCustom, Fields: []string{"k"}, Headers: []Rule{{"X-Key", "{k}"}}, Defaults: []StaticHeader{{"X-V", "{k}"}}},
		"default on host":       {Type: TypeCustom, Fields: []string{"k"}, Headers: []Rule{{"X-Key", "{k}"}}, Defaults: []StaticHeader{{"Host", "evil"}}},
		"bearer with rules":     {Type: TypeBearer, Headers: []Rule{{"X-Key", "{token}"}}},
		"aws with header":       {Type: TypeAWSSigV4, Header: "X-Key"},
		"aws bad region":        {Type: TypeAWSSigV4, Region: "US East"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Compile(spec); err == nil {
				t.Fatalf("Compile(%+v) succeeded", spec)
			}
		})
	}
}

func TestQueryValueNeverInURLStringOfClientRequest(t *testing.T) {
	// The proxy logs the client's URL parts, never the outbound one; this
	// pins that Apply works on the request it is given and nothing else.
	in, _ := Compile(Spec{Type: TypeCustom, Fields: []string{"api_key"}, Query: []Rule{{"key", "{api_key}"}}})
	client, _ := url.Parse("https://x.example/p?a=1")
	out := *client
	req := &http.Request{Method: "GET", URL: &out, Header: http.Header{}}
	_ = in.Apply(req, Fields{"api_key": sentinel}, Env{})
	if strings.Contains(client.String(), sentinel) || !strings.Contains(req.URL.RawQuery, sentinel) {
		t.Fatalf("client %s out %s", client, req.URL)
	}
}
