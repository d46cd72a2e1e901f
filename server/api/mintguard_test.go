package api

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/internal/testnet"
	"github.com/alter-sidecar/alter/mint"
)

// TestServerTokenRequestsAreGuarded: the server's own token requests
// (guardedTransport) never reach a token endpoint inside its network, by
// address or by a name that resolves to one: the client secret is not
// sent, not even a TLS ClientHello.
func TestServerTokenRequestsAreGuarded(t *testing.T) {
	var received atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.Listener = testnet.CountingListener{Listener: srv.Listener, N: &received}
	srv.StartTLS()
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	m, err := mint.New(mint.Options{Transport: guardedTransport(MintTrust{})})
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"127.0.0.1", "localhost", "[::ffff:127.0.0.1]"} {
		t.Run(host, func(t *testing.T) {
			_, err := m.Token(context.Background(), mint.Request{SecretID: host, Version: 1,
				Spec:   inject.Spec{Type: inject.TypeOAuth2ClientCredentials, Mint: &inject.MintSpec{TokenURL: "https://" + host + ":" + port + "/token"}},
				Fields: inject.Fields{"client_id": "c", "client_secret": sentinel}})
			var me *mint.Error
			if !errors.As(err, &me) || me.Reason != mint.ReasonUnreachable || strings.Contains(err.Error(), sentinel) {
				t.Fatalf("err = %v, want %s", err, mint.ReasonUnreachable)
			}
			if received.Load() != 0 {
				t.Fatalf("the internal token endpoint got %d bytes", received.Load())
			}
		})
	}
}

// TestMintTrustOpensOnlyWhatItNames: server.yaml's mint.resolve pins a
// token endpoint's name to an internal address and mint.ca_file's roots
// verify it: the pinned name is reached and mints; the same address by
// another name, or by itself, is still refused, and without the CA the
// pinned endpoint fails TLS verification.
func TestMintTrustOpensOnlyWhatItNames(t *testing.T) {
	var received atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"minted-internal","token_type":"Bearer","expires_in":3600}`))
	}))
	srv.Listener = testnet.CountingListener{Listener: srv.Listener, N: &received}
	srv.StartTLS()
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	pin := map[string]string{"login.example.com:443": srv.Listener.Addr().String()}
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	cases := []struct {
		name   string
		trust  MintTrust
		url    string
		minted bool
		reason string
	}{
		{"pinned, with the CA", MintTrust{Resolve: pin, RootCAs: roots}, "https://login.example.com/token", true, ""},
		{"pinned name in another spelling", MintTrust{Resolve: pin, RootCAs: roots}, "https://LOGIN.example.com./token", true, ""},
		{"the address itself", MintTrust{Resolve: pin, RootCAs: roots}, "https://127.0.0.1:" + port + "/token", false, mint.ReasonUnreachable},
		{"localhost", MintTrust{Resolve: pin, RootCAs: roots}, "https://localhost:" + port + "/token", false, mint.ReasonUnreachable},
		// Last: its failed handshake ends with an alert the endpoint may
		// count after the next case has begun, and it counts no bytes.
		{"pinned, without the CA", MintTrust{Resolve: pin}, "https://login.example.com/token", false, mint.ReasonUnreachable},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := received.Load()
			m, err := mint.New(mint.Options{Transport: guardedTransport(tc.trust)})
			if err != nil {
				t.Fatal(err)
			}
			tok, err := m.Token(context.Background(), mint.Request{SecretID: "s" + strconv.Itoa(i), Version: 1,
				Spec:   inject.Spec{Type: inject.TypeOAuth2ClientCredentials, Mint: &inject.MintSpec{TokenURL: tc.url}},
				Fields: inject.Fields{"client_id": "c", "client_secret": sentinel}})
			if tc.minted {
				if err != nil || tok.Value() != "minted-internal" {
					t.Fatalf("token %v, err %v; want minted", tok, err)
				}
				return
			}
			var me *mint.Error
			if !errors.As(err, &me) || me.Reason != tc.reason || strings.Contains(err.Error(), sentinel) {
				t.Fatalf("err = %v, want %s", err, tc.reason)
			}
			if tc.trust.RootCAs != nil && received.Load() != before {
				t.Fatalf("the refused endpoint got %d bytes", received.Load()-before)
			}
		})
	}
}
