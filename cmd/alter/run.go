package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/alter-sidecar/alter/config"
)

// alter run and alter env: any tool, no code change. The command gets the
// proxy variables, with a grant id or a profile token as the proxy URL's
// password (proxy/credential.go), and a CA bundle of the system roots plus
// alter's CA under every name common runtimes read.

// envProfileToken is where alter run and alter env read a profile token
// (never from a flag value: flags show in ps and shell history).
const envProfileToken = "ALTER_PROFILE_TOKEN"

// proxyVars are the variables alter run sets for the command. --env may
// not set them.
var proxyVars = []string{"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy", "NO_PROXY", "no_proxy", "NODE_USE_ENV_PROXY"}

// caVars name the CA bundle for curl, OpenSSL and Go (SSL_CERT_FILE),
// Python requests, Node, the AWS CLI and SDKs, and git.
var caVars = []string{"SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS", "AWS_CA_BUNDLE", "GIT_SSL_CAINFO"}

// noProxy keeps loopback traffic off the proxy.
const noProxy = "localhost,127.0.0.1,::1"

// systemRootFiles are where systems keep their PEM root bundle (Go's list
// for Linux, and the one macOS and the BSDs ship).
var systemRootFiles = []string{
	"/etc/ssl/certs/ca-certificates.crt",
	"/etc/pki/tls/certs/ca-bundle.crt",
	"/etc/ssl/ca-bundle.pem",
	"/etc/pki/tls/cacert.pem",
	"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
	"/etc/ssl/cert.pem",
}

// caBundle returns the system roots followed by alter's CA, in PEM. A
// system without a bundle file (or whose SSL_CERT_FILE cannot be read)
// gets alter's CA alone, and a warning.
func (a *app) caBundle(caFile string) ([]byte, error) {
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("alter's CA: %w", err)
	}
	candidates := systemRootFiles
	if f := os.Getenv("SSL_CERT_FILE"); f != "" {
		candidates = append([]string{f}, candidates...)
	}
	for _, f := range candidates {
		roots, err := os.ReadFile(f)
		if err != nil || len(roots) == 0 {
			continue
		}
		if roots[len(roots)-1] != '\n' {
			roots = append(roots, '\n')
		}
		return append(roots, ca...), nil
	}
	fmt.Fprintln(a.stderr, "alter: no system root bundle found: the command trusts alter's CA only, so hosts the proxy does not terminate will fail TLS")
	return ca, nil
}

// childEnv is the environment of the command: this one without proxy, CA
// and profile-token variables, then the proxy's settings, then --env.
func childEnv(base []string, proxy, bundle string, extra []string) []string {
	set := map[string]bool{envProfileToken: true}
	for _, k := range append(append([]string(nil), proxyVars...), caVars...) {
		set[strings.ToUpper(k)] = true
	}
	var out []string
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if !set[strings.ToUpper(k)] {
			out = append(out, kv)
		}
	}
	return append(out, append(settings(proxy, bundle), extra...)...)
}

// settings are the variables alter run sets, as NAME=VALUE.
func settings(proxy, bundle string) []string {
	var out []string
	for _, k := range proxyVars {
		v := proxy
		switch k {
		case "NO_PROXY", "no_proxy":
			v = noProxy
		case "NODE_USE_ENV_PROXY":
			v = "1"
		}
		out = append(out, k+"="+v)
	}
	for _, k := range caVars {
		out = append(out, k+"="+bundle)
	}
	return out
}

// parseEnvFlags checks --env NAME=VALUE values.
func parseEnvFlags(vals []string) ([]string, error) {
	reserved := map[string]bool{strings.ToUpper(envProfileToken): true}
	for _, k := range append(append([]string(nil), proxyVars...), caVars...) {
		reserved[strings.ToUpper(k)] = true
	}
	var out []string
	for _, kv := range vals {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || k == "" || strings.ContainsAny(k, " \t\x00") {
			return nil, usageError{fmt.Errorf("--env %q: want NAME=VALUE", k)}
		}
		if reserved[strings.ToUpper(k)] {
			return nil, usageError{fmt.Errorf("--env %s: alter run sets it itself", k)}
		}
		out = append(out, kv)
	}
	return out, nil
}

// exitStatus is a command's outcome that alter run passes on: its exit
// code, or the signal that ended it (which alter re-raises on itself).
// msg, if set, is printed first.
type exitStatus struct {
	code   int
	signal os.Signal
	msg    string
}

func (e exitStatus) Error() string {
	if e.msg != "" {
		return e.msg
	}
	return fmt.Sprintf("exit status %d", e.code)
}

func (a *app) runCommand() *cobra.Command {
	var cred credentialFlags
	var envs []string
	cmd := &cobra.Command{
		Use:   "run [--grant ID | --profile NAME] [--env NAME=VALUE]... -- COMMAND [ARGS]",
		Short: "Run a command with its requests going through alter, with a grant or a profile",
		Long: "run starts COMMAND with HTTP_PROXY, HTTPS_PROXY and ALL_PROXY (both cases) pointing at the\n" +
			"proxy, the grant id or profile token as the proxy password, NO_PROXY for loopback,\n" +
			"NODE_USE_ENV_PROXY=1, and a CA bundle (the system roots and alter's CA, in a private\n" +
			"temporary file removed on exit) in SSL_CERT_FILE, REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE,\n" +
			"NODE_EXTRA_CA_CERTS, AWS_CA_BUNDLE and GIT_SSL_CAINFO. A profile's token comes from\n" +
			"$" + envProfileToken + " or --profile-token-file. When no proxy answers at the configured\n" +
			"listen address, run serves one itself on a loopback port for the command's lifetime (its\n" +
			"audit records go to the configured file, or to audit.log in the home). --env sets\n" +
			"placeholders for tools that want a token (GH_TOKEN=placeholder): the proxy replaces what\n" +
			"they send. The command's exit status and signals pass through.",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError{errors.New("alter run needs a command: alter run [flags] -- COMMAND [ARGS]")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			secret, err := a.credentialSecret(cred)
			if err != nil {
				return err
			}
			extra, err := parseEnvFlags(envs)
			if err != nil {
				return err
			}
			return a.runWithProxy(cmd.Context(), secret, extra, args)
		},
	}
	cmd.Flags().SetInterspersed(false) // flags after COMMAND are the command's
	cred.add(cmd)
	cmd.Flags().StringArrayVar(&envs, "env", nil, "NAME=VALUE to set for the command, e.g. a placeholder token (repeatable)")
	return cmd
}

// runWithProxy finds or starts the proxy, writes the CA bundle and runs
// the command; the bundle and a proxy of its own end with it.
func (a *app) runWithProxy(ctx context.Context, secret string, extra, args []string) error {
	cfg, home, fromFile, err := a.loadConfig("")
	if err != nil {
		return err
	}
	addr, ok := clientAddr(cfg.Listen)
	if !ok || !proxyAnswers(addr) {
		if !fromFile {
			if err := a.ensureHome(cfg, home); err != nil {
				return err
			}
		}
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		own, stop, err := a.serveOwnProxy(ctx, cfg, home)
		if err != nil {
			return fmt.Errorf("no proxy answers at %s and one could not be started: %w", cfg.Listen, err)
		}
		defer stop()
		addr = own
	}
	pem, err := a.caBundle(cfg.MITM.CACert)
	if err != nil {
		return err
	}
	bundle, err := writePrivateTemp("", "alter-ca-*.pem", pem)
	if err != nil {
		return err
	}
	defer os.Remove(bundle)

	c := exec.Command(args[0], args[1:]...)
	c.Env = childEnv(os.Environ(), proxyURL(addr, secret), bundle, extra)
	c.Stdin, c.Stdout, c.Stderr = a.stdin, a.stdout, a.stderr
	return runChild(c)
}

// writePrivateTemp writes data to a new file in dir (the system's
// temporary directory for "") that only its owner can read, and returns
// its path.
func writePrivateTemp(dir, pattern string, data []byte) (string, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return "", fmt.Errorf("CA bundle: %w", err)
	}
	name := f.Name()
	err = f.Chmod(0o600)
	if err == nil {
		_, err = f.Write(data)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
		return "", fmt.Errorf("CA bundle: %w", err)
	}
	return name, nil
}

// exitFromWait turns the command's end into an exitStatus (nil for 0).
func exitFromWait(err error) error {
	if err == nil {
		return nil
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return err
	}
	if sig := exitSignal(ee); sig != nil {
		return exitStatus{code: 128 + signalNumber(sig), signal: sig}
	}
	return exitStatus{code: ee.ExitCode()}
}

// startError is how a shell reports a command it could not start: 127
// when it does not exist, 126 otherwise.
func startError(name string, err error) error {
	code := 126
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
		code = 127
	}
	return exitStatus{code: code, msg: fmt.Sprintf("%s: %v", name, err)}
}

// serveOwnProxy runs the sidecar in this process on a loopback port the
// system picks, for the command's lifetime: the config's store, CA, rules
// and audit file, no admin listener, and audit records that would go to
// stdout or stderr (the command's) written to audit.log in the home.
func (a *app) serveOwnProxy(ctx context.Context, cfg config.Config, home string) (string, func(), error) {
	cfg.Listen, cfg.AdminListen = "127.0.0.1:0", ""
	if cfg.Audit.Path == "stdout" || cfg.Audit.Path == "stderr" {
		cfg.Audit.Path = filepath.Join(home, "audit.log")
	}
	if cfg.Log.Level == "info" || cfg.Log.Level == "debug" {
		cfg.Log.Level = "warn" // the command's stderr is the user's
	}
	s, err := openSidecar(ctx, cfg)
	if err != nil {
		return "", nil, err
	}
	srv, err := s.newServer(cfg)
	if err != nil {
		s.close()
		return "", nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(s.ln)
	}()
	stop := func() {
		drain, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.drain(drain, srv)
		<-done
		s.close()
	}
	return s.ln.Addr().String(), stop, nil
}

func (a *app) envCommand() *cobra.Command {
	var cred credentialFlags
	cmd := &cobra.Command{
		Use:   "env [--grant ID | --profile NAME]",
		Short: "Print the settings alter run gives a command, as export lines for a shell",
		Long: "env prints export lines for the variables alter run sets (eval \"$(alter env --grant ID)\").\n" +
			"The CA bundle is written to ca-bundle.pem in the home (mode 0600). It does not start a\n" +
			"proxy: start one with alter proxy. A profile's token comes from $" + envProfileToken + " or\n" +
			"--profile-token-file, and is printed in the proxy URLs.",
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			secret, err := a.credentialSecret(cred)
			if err != nil {
				return err
			}
			cfg, home, _, err := a.loadConfig("")
			if err != nil {
				return err
			}
			addr, ok := clientAddr(cfg.Listen)
			if !ok {
				return fmt.Errorf("listen %s has no fixed port to point clients at", cfg.Listen)
			}
			if uid, known := listenerOwner(addr); known && uid != os.Getuid() {
				return fmt.Errorf("%s is another user's listener (uid %d), not your alter proxy: its settings, with your credential, are not printed", addr, uid)
			}
			if !proxyAnswers(addr) {
				fmt.Fprintf(a.stderr, "alter: no proxy answers at %s yet: start one with alter proxy\n", addr)
			}
			pem, err := a.caBundle(cfg.MITM.CACert)
			if err != nil {
				return err
			}
			bundle := filepath.Join(home, "ca-bundle.pem")
			if err := writeFile0600(bundle, pem); err != nil {
				return err
			}
			for _, kv := range settings(proxyURL(addr, secret), bundle) {
				k, v, _ := strings.Cut(kv, "=")
				fmt.Fprintf(a.stdout, "export %s=%s\n", k, shellQuote(v))
			}
			return nil
		},
	}
	cred.add(cmd)
	return cmd
}

// writeFile0600 replaces path with data, readable by its owner only.
func writeFile0600(path string, data []byte) error {
	tmp, err := writePrivateTemp(filepath.Dir(path), ".ca-bundle-*.pem", data)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
