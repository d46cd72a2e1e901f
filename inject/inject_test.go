package inject

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

const sentinel = "sentinel-7f3a9c1e"

func TestApply(t *testing.T) {
	tests := []struct {
		name   string
		spec   Spec
		fields Fields
		client http.Header
		header string
		want   string
	}{
		{"bearer", Spec{Type: TypeBearer}, Fields{"token": sentinel}, nil, "Authorization", "Bearer " + sentinel},
		{"bearer replaces client value", Spec{Type: TypeBearer}, Fields{"token": sentinel},
			http.Header{"Authorization": {"Bearer client"}, "authorization": {"lower"}}, "Authorization", "Bearer " + sentinel},
		{"bearer custom format", Spec{Type: TypeBearer, Format: "Token token={token}"}, Fields{"token": sentinel}, nil, "Authorization", "Token token=" + sentinel},
		{"api key header", Spec{Type: TypeAPIKey, Header: "x-api-key"}, Fields{"api_key": sentinel}, http.Header{"X-Api-Key": {"mine"}}, "X-Api-Key", sentinel},
		{"basic", Spec{Type: TypeBasic}, Fields{"username": "alice", "password": sentinel}, nil, "Authorization", "Basic YWxpY2U6c2VudGluZWwtN2YzYTljMWU="},
		{"template braces in value are verbatim", Spec{Type: TypeBearer}, Fields{"token": "{token}%s"}, nil, "Authorization", "Bearer {token}%s"},
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
			req, _ := http.NewRequest("GET", "https://api.example.com/", nil)
			for k, v := range tt.client {
				req.Header[k] = v
			}
			if err := in.Apply(req, tt.fields, Env{}); err != nil {
				t.Fatal(err)
			}
			n := 0
			for k, vs := range req.Header {
				if strings.EqualFold(k, tt.header) {
					n += len(vs)
					if k != tt.header || vs[0] != tt.want {
						t.Fatalf("header %s = %q, want %s: %q", k, vs, tt.header, tt.want)
					}
				}
			}
			if n != 1 {
				t.Fatalf("%d values for %s, want exactly 1: %v", n, tt.header, req.Header)
			}
		})
	}
}

func TestCompileRefuses(t *testing.T) {
	for name, spec := range map[string]Spec{
		"unknown type":              {Type: "magic"},
		"api key without header":    {Type: TypeAPIKey},
		"invalid header name":       {Type: TypeAPIKey, Header: "X Api"},
		"header with colon":         {Type: TypeAPIKey, Header: "X-Api:"},
		"framing header":            {Type: TypeAPIKey, Header: "Content-Length"},
		"host header":               {Type: TypeAPIKey, Header: "host"},
		"marker header":             {Type: TypeAPIKey, Header: "X-Alter-Grant"},
		"proxy authorization":       {Type: TypeBearer, Header: "Proxy-Authorization"},
		"format with CRLF":          {Type: TypeBearer, Format: "Bearer {token}\r\nX-Evil: 1"},
		"format with NUL":           {Type: TypeBearer, Format: "Bearer \x00{token}"},
		"unknown placeholder":       {Type: TypeBearer, Format: "Bearer {password}"},
		"unclosed placeholder":      {Type: TypeBearer, Format: "Bearer {token"},
		"stray close brace":         {Type: TypeBearer, Format: "Bearer }{token}"},
		"no placeholder":            {Type: TypeBearer, Format: "Bearer static"},
		"printf verb not a feature": {Type: TypeBearer, Format: "Bearer %s"},
		"basic with format":         {Type: TypeBasic, Format: "{username}"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Compile(spec); err == nil {
				t.Fatalf("Compile(%+v) succeeded, want an error", spec)
			}
		})
	}
}

func TestCheckFieldsRefuses(t *testing.T) {
	bearer, _ := Compile(Spec{Type: TypeBearer})
	basic, _ := Compile(Spec{Type: TypeBasic})
	tests := []struct {
		name   string
		in     *Injector
		fields Fields
	}{
		{"CR", bearer, Fields{"token": sentinel + "\r"}},
		{"LF", bearer, Fields{"token": sentinel + "\nX-Evil: 1"}},
		{"NUL", bearer, Fields{"token": sentinel + "\x00"}},
		{"other control", bearer, Fields{"token": sentinel + "\x1b"}},
		{"DEL", bearer, Fields{"token": sentinel + "\x7f"}},
		{"empty", bearer, Fields{"token": ""}},
		{"missing", bearer, Fields{}},
		{"unexpected field", bearer, Fields{"token": sentinel, "extra": "x"}},
		{"basic missing password", basic, Fields{"username": "alice"}},
		{"basic colon in username", basic, Fields{"username": "al:ice", "password": sentinel}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.in.CheckFields(tt.fields)
			if err == nil {
				t.Fatal("CheckFields accepted a bad secret")
			}
			if strings.Contains(err.Error(), sentinel) {
				t.Fatalf("error repeats the secret: %v", err)
			}
		})
	}
}

func TestFieldsNeverPrint(t *testing.T) {
	f := Fields{"token": sentinel}
	js, _ := json.Marshal(map[string]any{"f": f})
	for name, s := range map[string]string{
		"%v": fmt.Sprintf("%v", f), "%+v": fmt.Sprintf("%+v", f), "%#v": fmt.Sprintf("%#v", f),
		"%s": fmt.Sprintf("%s", f), "%q": fmt.Sprintf("%q", f), "json": string(js),
		"in struct": fmt.Sprintf("%+v", struct{ F Fields }{f}),
	} {
		if strings.Contains(s, sentinel) {
			t.Errorf("%s prints the secret: %s", name, s)
		}
	}
}

func FuzzParseTemplate(f *testing.F) {
	for _, s := range []string{"Bearer {token}", "Token token={token}", "{token}", "{{token}}", "}{", "a{token}b{token}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, format string) {
		tmpl, err := parseTemplate(format, []string{"token"})
		if err != nil {
			return
		}
		out := tmpl.render(Fields{"token": "T"})
		if strings.ContainsAny(out, "\r\n\x00") {
			t.Fatalf("template %q rendered a line break or NUL: %q", format, out)
		}
		if !strings.Contains(out, "T") {
			t.Fatalf("template %q accepted without a placeholder", format)
		}
	})
}
