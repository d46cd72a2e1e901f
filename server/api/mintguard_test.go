package api

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
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
	m, err := mint.New(mint.Options{Transport: guardedTransport()})
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
