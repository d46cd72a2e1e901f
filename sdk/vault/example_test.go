package vault_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/alter-sidecar/alter/sdk/vault"
)

// The examples run against a stand-in for the sidecar so that `go test`
// can check their output; in a pod, vault.New() finds the real one at
// ALTER_PROXY or 127.0.0.1:8080 and needs no options.
const exampleGrant = "6f1c2a7e-3b4d-4c5e-8f90-123456789abc"

// standIn answers like a sidecar holding one grant that allows GET only.
func standIn() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		refuse := func(status int, code, rule, msg string) {
			w.Header().Set(vault.HeaderError, code)
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"error":%q,"message":%q,"rule":%q}`, code, msg, rule)
		}
		switch {
		case r.Header.Get(vault.HeaderGrant) != exampleGrant:
			refuse(403, vault.CodeGrantUnavailable, "", "the grant is unknown, revoked or expired")
		case r.Method != http.MethodGet:
			refuse(403, vault.CodePolicyDenied, "method", "method "+r.Method+" is not allowed")
		default:
			// The real sidecar would now inject the credential and call the API.
			fmt.Fprintf(w, `{"url":%q}`, r.RequestURI)
		}
	}))
}

func Example_request() {
	sidecar := standIn()
	defer sidecar.Close()
	os.Setenv(vault.EnvProxy, sidecar.URL) // in a pod: set in the Deployment, or left to the default
	defer os.Unsetenv(vault.EnvProxy)

	client, err := vault.New()
	if err != nil {
		fmt.Println(err)
		return
	}
	resp, err := client.Request(context.Background(), "GET", "https://api.example.com/v1/things", nil,
		exampleGrant, vault.WithReason("nightly sync"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body))
	// Output: 200 {"url":"https://api.example.com/v1/things"}
}

func ExampleClient_RoundTripper() {
	sidecar := standIn()
	defer sidecar.Close()
	client, _ := vault.New(vault.WithProxy(sidecar.URL))

	// Any code that takes an *http.Client (API SDKs included) now uses the grant.
	hc := &http.Client{Transport: client.RoundTripper(exampleGrant)}
	resp, err := hc.Get("https://api.example.com/v1/me")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(string(body))
	// Output: {"url":"https://api.example.com/v1/me"}
}

func ExamplePolicyDeniedError() {
	sidecar := standIn()
	defer sidecar.Close()
	client, _ := vault.New(vault.WithProxy(sidecar.URL))

	_, err := client.Request(context.Background(), "DELETE", "https://api.example.com/v1/things/7", nil, exampleGrant)
	var denied *vault.PolicyDeniedError
	if errors.As(err, &denied) {
		fmt.Println("refused by rule", denied.Rule, "with status", denied.Status)
	}
	var pe *vault.ProxyError // every refusal is also a *ProxyError
	if errors.As(err, &pe) {
		fmt.Println(pe.Code)
	}
	// Output:
	// refused by rule method with status 403
	// policy_denied
}

func ExampleGrantUnavailableError() {
	sidecar := standIn()
	defer sidecar.Close()
	client, _ := vault.New(vault.WithProxy(sidecar.URL))

	_, err := client.Request(context.Background(), "GET", "https://api.example.com/", nil, "00000000-0000-4000-8000-000000000000")
	var gone *vault.GrantUnavailableError
	fmt.Println(errors.As(err, &gone))
	fmt.Println(err)
	// Output:
	// true
	// alter sidecar refused the request: grant_unavailable: the grant is unknown, revoked or expired [status 403]
}

// An agent says which run and tool each call belongs to; the sidecar
// records it in the audit trail and strips it before the API sees it.
func ExampleContextWithCall() {
	sidecar := standIn()
	defer sidecar.Close()
	client, _ := vault.New(vault.WithProxy(sidecar.URL))
	hc := &http.Client{Transport: client.RoundTripper(exampleGrant)}

	ctx := vault.ContextWithCall(context.Background(), vault.CallContext{RunID: "run-42", Tool: "web_search"})
	req, _ := http.NewRequestWithContext(ctx, "GET", "https://api.example.com/v1/search", nil)
	resp, err := hc.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	fmt.Println(resp.StatusCode)
	// Output: 200
}
