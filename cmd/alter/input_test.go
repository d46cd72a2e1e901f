package main

import "testing"

// TestParseFieldsKeyFile: a service-account key file on stdin is the one
// field's value, not a set of fields; other JSON objects still are fields.
func TestParseFieldsKeyFile(t *testing.T) {
	cases := []struct {
		name  string
		input string
		want  []string
		field string // the field whose value must be the whole input
	}{
		{"google key file", `{"type":"service_account","client_email":"a@b","private_key":"-----BEGIN PRIVATE KEY-----\nx\n"}` + "\n",
			[]string{"service_account_json"}, "service_account_json"},
		{"fields as JSON", `{"client_id":"a","client_secret":"b"}`, []string{"client_id", "client_secret"}, ""},
		{"one field as JSON", `{"token":"t-1"}`, []string{"token"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, err := parseFields([]byte(tc.input), tc.want)
			if err != nil {
				t.Fatal(err)
			}
			if tc.field != "" {
				if len(f) != 1 || f[tc.field]+"\n" != tc.input {
					t.Fatalf("fields %v", f.Names())
				}
				return
			}
			if len(f) != len(tc.want) {
				t.Fatalf("fields %v, want %v", f.Names(), tc.want)
			}
		})
	}
}
