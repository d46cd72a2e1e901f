//go:build !windows

package main

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime/pprof"
	"time"

	"go.uber.org/zap"

	"github.com/alter-sidecar/alter/audit"
	"github.com/alter-sidecar/alter/certs"
	"github.com/alter-sidecar/alter/proxy"
	"github.com/alter-sidecar/alter/secretstore"
)

// childCommand is the hidden subcommand that runs the proxy child. It is
// not a user interface: the parent writes its config file and speaks the
// line protocol below on the child's stdin and stdout.
//
//	child -> parent: "ready 127.0.0.1:PORT"
//	parent -> child: "usage"      child -> parent: one JSON procUsage line
//	parent -> child: "reset-peak" child -> parent: "ok"
//	parent -> child: "quit" (or EOF: the parent is gone) -> the child exits
const childCommand = "__proxy-child"

// childConfig is what the parent tells the child, as a JSON file.
type childConfig struct {
	StorePath     string            `json:"store_path"`
	KeyPath       string            `json:"key_path"`
	CACert        string            `json:"ca_cert"`
	CAKey         string            `json:"ca_key"`
	UpstreamCA    string            `json:"upstream_ca"`
	Resolve       map[string]string `json:"resolve"`
	Audit         string            `json:"audit"`
	AuditPath     string            `json:"audit_path"`
	CPUProfile    string            `json:"cpu_profile,omitempty"`
	Proxy         string            `json:"proxy"` // proxyAlter or proxyGoproxy
	UpstreamHTTP2 bool              `json:"upstream_http2,omitempty"`
	NoFastPath    bool              `json:"no_fast_path,omitempty"`
}

// childMain runs the proxy until told to quit. It returns the exit status.
func childMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if err := runChild(args, stdin, stdout); err != nil {
		fmt.Fprintln(stderr, "alter-bench proxy child:", err)
		return 1
	}
	return 0
}

func runChild(args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) != 1 {
		return errors.New("want one argument: the config file")
	}
	proxy.TuneGC() // as `alter proxy` does
	data, err := os.ReadFile(args[0])
	if err != nil {
		return err
	}
	var cfg childConfig
	if err := json.Unmarshal(data, &cfg); err != nil {
		return fmt.Errorf("config %s: %w", args[0], err)
	}
	if cfg.CPUProfile != "" {
		prof, err := os.Create(cfg.CPUProfile)
		if err != nil {
			return err
		}
		defer prof.Close()
		if err := pprof.StartCPUProfile(prof); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	if cfg.Proxy == proxyGoproxy {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		return runReference(cfg, ln, stdin, stdout)
	}
	keys, err := secretstore.LoadKeyFile(cfg.KeyPath)
	if err != nil {
		return err
	}
	store, err := secretstore.OpenFile(cfg.StorePath, keys)
	if err != nil {
		return err
	}
	defer store.Close()
	ca, err := certs.LoadCA(cfg.CACert, cfg.CAKey)
	if err != nil {
		return err
	}
	roots, err := loadPool(cfg.UpstreamCA)
	if err != nil {
		return err
	}
	sink, err := openAudit(cfg)
	if err != nil {
		return err
	}
	defer sink.Close()
	// Warnings and errors only: an info line per event would be load the
	// production proxy does not carry.
	log, err := zap.NewProduction(zap.IncreaseLevel(zap.WarnLevel))
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	self, _ := netip.ParseAddrPort(ln.Addr().String())
	p, err := proxy.New(proxy.Options{
		Store:       store,
		Leaves:      certs.NewLeafCache(ca, 1000),
		Audit:       sink,
		Log:         log,
		MITM:        proxy.MITMMode{Auto: true},
		Passthrough: true,
		Identity:    "alter-bench",
		Upstream: proxy.UpstreamOptions{
			RootCAs:               roots,
			Resolve:               cfg.Resolve,
			Self:                  []netip.AddrPort{self},
			DialTimeout:           10 * time.Second,
			ResponseHeaderTimeout: 30 * time.Second,
			HTTP2:                 cfg.UpstreamHTTP2,
		},
		DisableFastPath: cfg.NoFastPath,
	})
	if err != nil {
		ln.Close()
		return err
	}
	srv := proxy.NewServer(p)
	go func() { _ = srv.Serve(ln) }()

	fmt.Fprintf(stdout, "ready %s\n", ln.Addr())
	serveControl(stdin, stdout)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		_ = srv.Close() // hijacked tunnels do not count for Shutdown; drop them
	}
	p.CloseIdleConnections()
	return nil
}

// serveControl answers the parent's commands until "quit" or EOF.
func serveControl(stdin io.Reader, stdout io.Writer) {
	sc := bufio.NewScanner(stdin)
	for sc.Scan() {
		switch sc.Text() {
		case "usage":
			js, _ := json.Marshal(selfUsage())
			fmt.Fprintf(stdout, "%s\n", js)
		case "reset-peak":
			resetPeakRSS()
			fmt.Fprintln(stdout, "ok")
		case "quit":
			return
		default:
			fmt.Fprintln(stdout, "error unknown command")
		}
	}
}

func loadPool(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificate", path)
	}
	return pool, nil
}

func openAudit(cfg childConfig) (audit.Sink, error) {
	switch cfg.Audit {
	case auditFile:
		return audit.NewZapSink(cfg.AuditPath)
	case auditDevNull:
		// The zap sink takes a path, not a writer; /dev/null keeps the
		// encoding and the write(2) but no disk.
		return audit.NewZapSink(filepath.Clean(os.DevNull))
	case auditNone:
		return discardSink{}, nil
	}
	return nil, fmt.Errorf("unknown audit mode %q", cfg.Audit)
}

// discardSink stores nothing: with it the numbers leave out the audit cost.
type discardSink struct{}

func (discardSink) Write(audit.Record) error { return nil }
func (discardSink) Close() error             { return nil }
