package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/alter-sidecar/alter/inject"
)

// mintParams are the --param keys of the minted types (inject.MintSpec),
// each consumed by buildMint; inject.Compile says which a type takes.
var mintParams = []string{"token_url", "scope", "audience", "resource", "client_auth", "grant_type",
	"app_id", "installation_id", "repositories", "permissions",
	"algorithm", "key_id", "issuer", "subject", "lifetime", "key_encoding", "per_request"}

// buildMint moves the minted types' parameters from params into s.Mint.
// Lists are comma-separated (scope also takes spaces); permissions are
// name:level pairs; extra token request parameters are param.NAME=VALUE.
func buildMint(s *inject.Spec, params map[string]string) error {
	m := &inject.MintSpec{}
	take := func(k string) string {
		v := params[k]
		delete(params, k)
		return v
	}
	m.TokenURL, m.Audience, m.Resource = take("token_url"), take("audience"), take("resource")
	m.ClientAuth, m.GrantType = take("client_auth"), take("grant_type")
	m.AppID, m.InstallationID = take("app_id"), take("installation_id")
	m.Algorithm, m.KeyID, m.Issuer, m.Subject, m.KeyEncoding = take("algorithm"), take("key_id"), take("issuer"), take("subject"), take("key_encoding")
	m.Scopes = splitList(take("scope"), ", ")
	m.Repositories = splitList(take("repositories"), ",")
	if v := take("permissions"); v != "" {
		m.Permissions = map[string]string{}
		for _, p := range splitList(v, ",") {
			name, level, ok := strings.Cut(p, ":")
			if !ok {
				return usageError{fmt.Errorf("--param permissions=%q: want name:level pairs, e.g. contents:read,issues:write", v)}
			}
			m.Permissions[name] = level
		}
	}
	if v := take("lifetime"); v != "" {
		d, err := parseSeconds(v)
		if err != nil {
			return usageError{fmt.Errorf("--param lifetime=%q: want seconds or a duration such as 5m", v)}
		}
		m.Lifetime = d
	}
	if v := take("per_request"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return usageError{fmt.Errorf("--param per_request=%q: want true or false", v)}
		}
		m.PerRequest = b
	}
	for k := range params {
		if name, ok := strings.CutPrefix(k, "param."); ok {
			if m.Params == nil {
				m.Params = map[string]string{}
			}
			m.Params[name] = take(k)
		}
	}
	s.Mint = m
	return nil
}

func splitList(v, seps string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return strings.ContainsRune(seps, r) })
}

// parseSeconds reads "300" or "5m".
func parseSeconds(v string) (int, error) {
	if n, err := strconv.Atoi(v); err == nil {
		return n, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, err
	}
	return int(d.Seconds()), nil
}
