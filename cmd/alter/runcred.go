package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/alter-sidecar/alter/config"
	"github.com/alter-sidecar/alter/errcode"
	"github.com/alter-sidecar/alter/profile"
	"github.com/spf13/cobra"
)

// What alter run and alter env hand a tool: the grant id or profile token
// (never from a flag value for tokens), as the password of a proxy URL that
// points at an alter proxy this user runs.

// credentialFlags are --grant, --profile and --profile-token-file.
type credentialFlags struct {
	grant, profile, tokenFile string
}

func (f *credentialFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.grant, "grant", "", "grant id to use for every request the command sends (unless it names one itself)")
	cmd.Flags().StringVar(&f.profile, "profile", "", "profile whose grants the command's requests use; its token comes from $"+envProfileToken+" or --profile-token-file")
	cmd.Flags().StringVar(&f.tokenFile, "profile-token-file", "", "file holding the profile's token (mode 0600)")
}

// secret returns what goes in the proxy URL's password: the grant id or
// the profile's token ("" for neither). A profile token is checked against
// the home's store when it can be read, so a token of another profile, or
// of a revoked one, is caught before the command runs.
func (a *app) credentialSecret(f credentialFlags) (string, error) {
	switch {
	case f.grant != "" && f.profile != "":
		return "", usageError{errors.New("--grant and --profile exclude each other")}
	case f.tokenFile != "" && f.profile == "":
		return "", usageError{errors.New("--profile-token-file goes with --profile")}
	case strings.HasPrefix(f.grant, profile.TokenPrefix):
		// Never printed back: it is (or looks like) a profile token.
		return "", usageError{fmt.Errorf("--grant takes a grant id; a profile token goes with --profile NAME, in $%s or --profile-token-file", envProfileToken)}
	case f.grant != "":
		u, err := uuid.Parse(f.grant)
		if err != nil || len(f.grant) != 36 {
			return "", usageError{fmt.Errorf("--grant %q is not a grant id (a UUID)", f.grant)}
		}
		return u.String(), nil
	case f.profile == "":
		return "", nil
	}
	if err := profile.CheckName(f.profile); err != nil {
		return "", usageError{err}
	}
	tok, err := readProfileToken(f.tokenFile)
	if err != nil {
		return "", err
	}
	if err := a.checkProfileToken(f.profile, tok); err != nil {
		return "", err
	}
	return tok, nil
}

// readProfileToken reads the token from the file or from the environment.
func readProfileToken(file string) (string, error) {
	var tok string
	if file != "" {
		fi, err := os.Stat(file)
		if err != nil {
			return "", err
		}
		if fi.Mode().Perm()&0o077 != 0 {
			return "", fmt.Errorf("%s: mode %v lets others read the token: chmod 600 it", file, fi.Mode().Perm())
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return "", err
		}
		tok = strings.TrimSpace(string(b))
	} else {
		tok = strings.TrimSpace(os.Getenv(envProfileToken))
		if tok == "" {
			return "", usageError{fmt.Errorf("--profile needs the profile's token: set %s or pass --profile-token-file FILE (alter profile create and rotate-token print it)", envProfileToken)}
		}
	}
	if !profile.LooksLikeToken(tok) {
		return "", fmt.Errorf("the profile token is not in the token form (%s followed by 43 characters)", profile.TokenPrefix)
	}
	return tok, nil
}

// checkProfileToken makes sure tok is name's, when the home's file store
// can be read; a home without one (a control-plane sidecar) is not checked.
func (a *app) checkProfileToken(name, tok string) error {
	cfg, _, _, err := a.loadConfig("")
	if err != nil || cfg.Store.Type != config.StoreFile {
		return nil
	}
	st, err := openStore(cfg)
	if err != nil {
		return nil
	}
	defer st.Close()
	b, err := st.ResolveProfileToken(context.Background(), profile.DigestOf(tok), time.Now())
	if err != nil || b.Name != name {
		return fmt.Errorf("the profile token is not a token of profile %s, or the profile is revoked (alter profile show %s)", name, name)
	}
	return nil
}

// proxyURL is the proxy's URL with secret as its password.
func proxyURL(addr, secret string) string {
	u := url.URL{Scheme: "http", Host: addr}
	if secret != "" {
		u.User = url.UserPassword("alter", secret)
	}
	return u.String()
}

// clientAddr is the address a client on this machine dials for a listen
// address: loopback for an unspecified host.
func clientAddr(listen string) (string, bool) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil || port == "0" || port == "" {
		return "", false
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	return net.JoinHostPort(host, port), true
}

// proxyAnswers reports whether an alter proxy listens at addr: it answers a
// request that is not a proxy request with its own error header. The
// command is to send it a grant id or profile token, so a listener another
// user owns (where the system says so: Linux) is not taken for one,
// whatever it answers.
func proxyAnswers(addr string) bool {
	if uid, known := listenerOwner(addr); known && uid != os.Getuid() {
		return false
	}
	c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: alter.invalid\r\nConnection: close\r\n\r\n"); err != nil {
		return false
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.Header.Get(errcode.HeaderError) != ""
}
