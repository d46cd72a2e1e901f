package providers

import (
	"fmt"
	"strings"

	"github.com/alter-sidecar/alter/inject"
)

// Injects describes, one line per rule, what the template puts on a request,
// with {field} and {param} placeholders: never a value. It is what
// "alter providers show" prints.
func (p *Provider) Injects() []string { return describe(p.Inject) }

// Injects describes what the built spec puts on a request (parameters
// filled in, secret fields as placeholders).
func (r Result) Injects() []string { return describe(r.Spec) }

func describe(s inject.Spec) []string {
	var out []string
	switch s.Type {
	case inject.TypeBearer:
		out = append(out, "header "+orDefault(s.Header, "Authorization")+": "+orDefault(s.Format, "Bearer {token}"))
	case inject.TypeAPIKey:
		out = append(out, "header "+s.Header+": "+orDefault(s.Format, "{api_key}"))
	case inject.TypeBasic:
		out = append(out, "header Authorization: Basic base64({username}:{password})")
	case inject.TypeAWSSigV4:
		out = append(out, fmt.Sprintf("AWS Signature V4 (Authorization, X-Amz-Date; X-Amz-Security-Token with a session token), region %s, service %s",
			orDefault(s.Region, "from the host"), orDefault(s.Service, "from the host")))
	case inject.TypeCustom:
		for _, h := range s.Headers {
			out = append(out, "header "+h.Name+": "+h.Format)
		}
		if s.Basic != "" {
			out = append(out, "header Authorization: Basic base64("+s.Basic+")")
		}
		for _, q := range s.Query {
			out = append(out, "query "+q.Name+"="+q.Format+" (other parameters kept)")
		}
		if s.Path != "" {
			out = append(out, "path /"+s.Path+"/... (first segment; send /METHOD)")
		}
		for _, d := range s.Defaults {
			out = append(out, "header "+d.Name+": "+d.Value+" (only if the client sent none)")
		}
	default:
		if m := s.Mint; m != nil && inject.IsMinted(s.Type) {
			out = append(out, "header "+orDefault(s.Header, "Authorization")+": "+orDefault(s.Format, "Bearer {token}")+
				" with {token} "+mintedFrom(s.Type, m))
		}
	}
	return out
}

// mintedFrom says where a minted type's token comes from.
func mintedFrom(typ string, m *inject.MintSpec) string {
	switch typ {
	case inject.TypeOAuth2ClientCredentials:
		return "an OAuth2 client-credentials token from " + m.TokenURL
	case inject.TypeOAuth2RefreshToken:
		return "an OAuth2 access token refreshed at " + m.TokenURL + " (rotated refresh tokens stored back)"
	case inject.TypeGoogleServiceAccount:
		return "a Google token from " + orDefault(m.TokenURL, inject.GoogleTokenURL) + " (JWT bearer, the key file's key)"
	case inject.TypeGitHubApp:
		return "an installation token from " + orDefault(m.TokenURL, inject.GitHubAPIURL) + "/app/installations/" + m.InstallationID + "/access_tokens"
	}
	return "a " + m.Algorithm + " JWT signed by the proxy"
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// ParseParams turns repeated --param NAME=VALUE flags into a map. A flag
// without '=' or a name given twice is an error (the value may contain '=').
func ParseParams(kv []string) (map[string]string, error) {
	out := map[string]string{}
	for _, s := range kv {
		name, value, ok := strings.Cut(s, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, fmt.Errorf("%w: --param %q must be NAME=VALUE", ErrBadParam, s)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("%w: --param %s given twice", ErrBadParam, name)
		}
		out[name] = value
	}
	return out, nil
}
