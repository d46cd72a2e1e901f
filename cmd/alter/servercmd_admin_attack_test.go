package main

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/alter-sidecar/alter/audit/forward"
	"github.com/alter-sidecar/alter/internal/testbin"
	"github.com/alter-sidecar/alter/server/serverconfig"
)

// TestServerAdminAttackListenMistakes: an operator's admin_listen
// mistakes are refused before anything is opened, by --check-config as
// by the start, with an error naming the key, and IPv6 forms that are
// right pass; --check-config says where the admin listener would be.
func TestServerAdminAttackListenMistakes(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		args       []string
		want       string // in stderr; with ok, the check passes
		ok         bool
	}{
		{"the API's default address", "admin_listen: 127.0.0.1:8443\n", nil, "admin_listen: 127.0.0.1:8443 is the API's listen address", false},
		{"--listen onto admin_listen", "admin_listen: 127.0.0.1:9091\n", []string{"--listen", "127.0.0.1:9091"}, "admin_listen: 127.0.0.1:9091 is the API's listen address", false},
		{"IPv6 without brackets", "admin_listen: '::1:9091'\n", nil, `admin_listen: "::1:9091" is not host:port`, false},
		{"a port name", "admin_listen: 127.0.0.1:http\n", nil, `admin_listen: "127.0.0.1:http" has an invalid port`, false},
		{"a port alone", "admin_listen: 9091\n", nil, `admin_listen: "9091" is not host:port`, false},
		{"a host name", "admin_listen: metrics.internal:9091\n", nil, "listen on an IP address (or localhost)", false},
		{"IPv6 loopback", "admin_listen: '[::1]:9091'\n", nil, "admin [::1]:9091", true},
		{"every interface", "admin_listen: ':9091'\n", nil, "admin :9091", true},
		{"both on port 0", "listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\n", nil, "admin 127.0.0.1:0", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home := t.TempDir()
			file := filepath.Join(home, "server.yaml")
			if err := os.WriteFile(file, []byte("version: 1\n"+tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			var out, errOut strings.Builder
			code := run(append([]string{"--home", home, "server", "--check-config"}, tc.args...), nil, &out, &errOut)
			if (code == 0) != tc.ok {
				t.Fatalf("exit %d, want ok=%t: %s", code, tc.ok, errOut.String())
			}
			if !strings.Contains(errOut.String(), tc.want) {
				t.Fatalf("stderr %q does not say %q", errOut.String(), tc.want)
			}
			if !tc.ok {
				if _, err := os.Stat(filepath.Join(home, "server.db")); err == nil {
					t.Error("the database was opened for a config that is refused")
				}
			}
		})
	}
}

// TestServerAdminAttackPortInUse: an admin port another process holds
// stops the start with an error naming admin_listen; the API's listener
// is closed again, nothing says the server listens, and forwarding never
// started.
func TestServerAdminAttackPortInUse(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	api := free.Addr().String()
	free.Close()

	home := t.TempDir()
	adminToken(t, home, "ops") // a record that a started forwarder would send
	cfg := serverconfig.Default(home)
	cfg.Listen, cfg.AdminListen = api, busy.Addr().String()
	a := &app{stderr: io.Discard, homeFlag: home}
	db, err := a.openServerDB(context.Background(), cfg, home)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	siem := &siemStub{}
	var log, announce testbin.SyncBuffer
	logger := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(&log), zapcore.DebugLevel))
	err = runServer(context.Background(), cfg, serverFiles{forward: []forward.Target{{Name: "siem", Sender: siem}}}, db, logger, &announce)
	if err == nil || !strings.Contains(err.Error(), "admin_listen "+cfg.AdminListen) || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("runServer: %v, want admin_listen's address in use", err)
	}
	if ln, err := net.Listen("tcp", api); err != nil {
		t.Errorf("the API's address is still held: %v", err)
	} else {
		ln.Close()
	}
	if s := announce.String() + log.String(); strings.Contains(s, "listening") {
		t.Errorf("a server that did not start said it listens: %s", s)
	}
	if n := siem.received(); n != 0 {
		t.Errorf("forwarding sent %d records for a server that did not start", n)
	}
}
