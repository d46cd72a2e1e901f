package inject

import (
	"net/http"
	"net/url"
	"testing"
	"time"
)

func BenchmarkApply(b *testing.B) {
	cases := []struct {
		name   string
		spec   Spec
		fields Fields
	}{
		{"bearer", Spec{Type: TypeBearer}, Fields{"token": "tok"}},
		{"api_key", Spec{Type: TypeAPIKey, Header: "X-API-Key"}, Fields{"api_key": "key"}},
		{"basic", Spec{Type: TypeBasic}, Fields{"username": "u", "password": "p"}},
		{"custom_query", Spec{Type: TypeCustom, Fields: []string{"api_key"}, Query: []Rule{{"key", "{api_key}"}}}, Fields{"api_key": "k"}},
		{"custom_path", Spec{Type: TypeCustom, Fields: []string{"token"}, Path: "bot{token}"}, Fields{"token": "1:A"}},
		{"aws_sigv4", Spec{Type: TypeAWSSigV4}, Fields{"access_key_id": "AKID", "secret_access_key": "secret"}},
	}
	u, _ := url.Parse("https://sqs.eu-west-1.amazonaws.com/getMe?a=1")
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			in, err := Compile(c.spec)
			if err != nil {
				b.Fatal(err)
			}
			env := Env{Now: time.Now(), MaxSignedBody: 1 << 20}
			b.ReportAllocs()
			for b.Loop() {
				uu := *u
				req := &http.Request{Method: "GET", URL: &uu, Host: u.Host, Header: http.Header{"Accept": {"*/*"}}}
				if err := in.Apply(req, c.fields, env); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
