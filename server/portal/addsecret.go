package portal

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/providers"
	"github.com/alter-sidecar/alter/secretstore"
)

// "Add secret" is two steps so it works without JavaScript: a GET form
// picks a provider template or a credential type, then the form for that
// choice is shown (its parameters, its secret fields as password inputs,
// and for a custom type its rules and hosts). The secret values go only in
// the POST body, straight to the Backend.

const (
	kindProvider = "provider:"
	kindType     = "type:"
)

// choiceData is the first step.
type choiceData struct {
	Providers []*providers.Provider
	Types     []string
	Error     string
}

func (p *Portal) addSecretPage(w http.ResponseWriter, r *http.Request) {
	kind := r.URL.Query().Get("kind")
	if kind == "" {
		p.render(w, r, http.StatusOK, "addchoice", view{Title: "Add secret", Nav: "add", Data: p.choice("")})
		return
	}
	f, ok := p.secretForm(kind)
	if !ok {
		p.render(w, r, http.StatusBadRequest, "addchoice", view{Title: "Add secret", Nav: "add", Data: p.choice(msgUnknownKind)})
		return
	}
	p.render(w, r, http.StatusOK, "addsecret", view{Title: "Add secret: " + f.Title, Nav: "add", Data: f})
}

func (p *Portal) choice(msg string) choiceData {
	return choiceData{Providers: p.cfg.Backend.Providers().List(), Types: inject.Types(), Error: msg}
}

const msgUnknownKind = "Choose a provider or a credential type from the list."

// secretForm returns the empty form for kind, or false for an unknown kind.
func (p *Portal) secretForm(kind string) (*secretForm, bool) {
	f := &secretForm{Kind: kind}
	var secrets, injection []*formField
	switch {
	case strings.HasPrefix(kind, kindProvider):
		prov, err := p.cfg.Backend.Providers().Get(strings.TrimPrefix(kind, kindProvider))
		if err != nil {
			return nil, false
		}
		f.Title, f.Docs, f.Hosts = prov.Title, prov.Docs, prov.Hosts
		for _, fd := range prov.Fields {
			secrets = append(secrets, &formField{Name: "field_" + fd.Name, Label: fd.Name, Kind: inPassword,
				Hint: fd.Description + optionalHint(fd.Optional), Required: !fd.Optional, Auto: "off"})
		}
		for _, prm := range prov.Params {
			x := &formField{Name: "param_" + prm.Name, Label: prm.Name, Kind: inText, Hint: prm.Help(),
				Value: prm.Default, Required: prm.Required()}
			if len(prm.Values) > 0 {
				x.Kind, x.Options = inSelect, append([]string{""}, prm.Values...)
			}
			injection = append(injection, x)
		}
	case strings.HasPrefix(kind, kindType):
		typ := strings.TrimPrefix(kind, kindType)
		f.Title = "custom " + typ + " credential"
		switch typ {
		case inject.TypeBearer, inject.TypeAPIKey:
			injection = append(injection,
				&formField{Name: "header", Label: "Header name", Kind: inText, Required: typ == inject.TypeAPIKey,
					Hint: map[bool]string{true: "The header that carries the key, e.g. X-API-Key.", false: "Optional; Authorization when empty."}[typ == inject.TypeAPIKey]},
				&formField{Name: "format", Label: "Injection format", Kind: inText,
					Hint: "Optional value template with {field} placeholders, e.g. Token {token}. Empty: the type's default."})
		case inject.TypeBasic:
		case inject.TypeAWSSigV4:
			injection = append(injection,
				&formField{Name: "region", Label: "Region", Kind: inText, Hint: "Optional, e.g. eu-west-1; inferred from the host when empty."},
				&formField{Name: "service", Label: "Service", Kind: inText, Hint: "Optional, e.g. s3; inferred from the host when empty."},
				&formField{Name: "unsigned_payload", Label: "Sign UNSIGNED-PAYLOAD (S3: bodies stream)", Kind: inCheckbox})
		case inject.TypeCustom:
			for _, i := range []string{"1", "2", "3"} {
				secrets = append(secrets,
					&formField{Name: "custom_name_" + i, Label: "Field " + i + " name", Kind: inText, Required: i == "1",
						Hint: "A name such as api_key (a-z, 0-9, _), used as {name} in the rules below." + optionalHint(i != "1")},
					&formField{Name: "custom_value_" + i, Label: "Field " + i + " value", Kind: inPassword, Required: i == "1", Auto: "off"})
			}
			injection = append(injection,
				&formField{Name: "headers", Label: "Header rules", Kind: inTextarea, Hint: "One per line: Name: template, e.g. Authorization: Token {api_key}"},
				&formField{Name: "query", Label: "Query parameter rules", Kind: inTextarea, Hint: "One per line: name=template, e.g. key={api_key}"},
				&formField{Name: "basic", Label: "Basic auth template", Kind: inText, Hint: "Optional user:password template, e.g. api:{api_key}"},
				&formField{Name: "path", Label: "First path segment template", Kind: inText, Hint: "Optional, e.g. bot{token}"},
				&formField{Name: "defaults", Label: "Extra static headers", Kind: inTextarea, Hint: "One per line: Name: value, set only when the client sent none."})
		default:
			return nil, false
		}
		if typ != inject.TypeCustom {
			names, optional, _ := inject.Spec{Type: typ}.FieldNames()
			for _, n := range names {
				secrets = append(secrets, &formField{Name: "field_" + n, Label: n, Kind: inPassword, Required: !optional[n],
					Hint: optionalHint(optional[n]), Auto: "off"})
			}
		}
		injection = append(injection, &formField{Name: "hosts", Label: "Allowed hosts", Kind: inTextarea, Required: true,
			Hint: "One per line. api.example.com means https on port 443; write http://host:port for anything else; *.example.com matches one label."})
	default:
		return nil, false
	}
	f.Sections = []formSection{
		{Legend: "Secret (write-only: it can never be shown again)", Fields: secrets},
		{Legend: "Injection and destinations", Fields: injection},
		{Legend: "Grant", Fields: []*formField{
			{Name: "name", Label: "Name", Kind: inText, Hint: "For people, e.g. stripe-prod. Not secret."},
			{Name: "app", Label: "App", Kind: inText, Hint: "Optional: the application whose sidecars may resolve this grant."},
			{Name: "labels", Label: "Labels", Kind: inText, Hint: "Optional, comma-separated."},
			{Name: "expires", Label: "Expires (UTC)", Kind: inDateTime, Hint: "Optional. The grant and its clones stop working then."},
		}},
	}
	if len(f.Sections[1].Fields) == 0 {
		f.Sections = append(f.Sections[:1], f.Sections[2])
	}
	return f, true
}

func optionalHint(optional bool) string {
	if optional {
		return " Optional."
	}
	return ""
}

func (p *Portal) addSecret(w http.ResponseWriter, r *http.Request) {
	f, ok := p.secretForm(r.PostFormValue("kind"))
	if !ok {
		p.render(w, r, http.StatusBadRequest, "addchoice", view{Title: "Add secret", Nav: "add", Data: p.choice(msgUnknownKind)})
		return
	}
	f.fill(r)
	ns, app, fields, ok := p.buildSecret(f, r)
	if ok {
		g, err := p.cfg.Backend.AddSecret(r.Context(), ns, app)
		if err == nil {
			http.Redirect(w, r, Prefix+"/grants/"+url.PathEscape(g.ID)+"?created=1", http.StatusSeeOther)
			return
		}
		status, msg := p.classify(err, "add secret")
		if status != http.StatusBadRequest {
			p.errorPage(w, r, status, msg)
			return
		}
		f.fail(fieldFor(msg), scrub(msg, fields))
	}
	p.render(w, r, http.StatusBadRequest, "addsecret", view{Title: "Add secret: " + f.Title, Nav: "add", Data: f})
}

// buildSecret checks the form and turns it into a NewSecret. Errors are
// set on the form, next to the field at fault where one is.
func (p *Portal) buildSecret(f *secretForm, r *http.Request) (secretstore.NewSecret, string, inject.Fields, bool) {
	ns := secretstore.NewSecret{Name: f.value("name"), Labels: lines(f.value("labels"))}
	fields := inject.Fields{}
	var want []string
	var optional map[string]bool
	var spec inject.Spec
	var hosts []string
	if name, ok := strings.CutPrefix(f.Kind, kindProvider); ok {
		prov, _ := p.cfg.Backend.Providers().Get(name) // secretForm checked it
		params := map[string]string{}
		for _, prm := range prov.Params {
			if v := f.value("param_" + prm.Name); v != "" {
				params[prm.Name] = v
			}
		}
		res, err := prov.Build(params)
		if err != nil {
			f.fail(paramAt(err, prov), strings.ReplaceAll(err.Error(), "--param ", ""))
			return ns, "", fields, false
		}
		spec, hosts, want, optional = res.Spec, res.Destinations, res.Fields, res.Optional
		ns.Provider = prov.Name
	} else {
		var ok bool
		if spec, ok = customSpec(f); !ok {
			return ns, "", fields, false
		}
		hosts = lines(f.value("hosts"))
		if len(hosts) == 0 {
			f.fail("hosts", "Name at least one host the secret may be sent to.")
		}
		for _, h := range hosts {
			if _, err := policy.ParseDestination(h); err != nil {
				f.fail("hosts", err.Error())
			}
		}
		want, optional, _ = spec.FieldNames()
	}
	// Secret values: read straight from the POST body, never kept in the form.
	for _, n := range want {
		key := "field_" + n
		if spec.Type == inject.TypeCustom && ns.Provider == "" {
			key = customValueKey(f, n)
		}
		if v := r.PostFormValue(key); v != "" {
			fields[n] = v
		} else if !optional[n] {
			f.fail(key, "Enter the "+n+".")
		}
	}
	injector, err := inject.Compile(spec)
	if err != nil {
		f.fail("", err.Error())
	} else if !f.hasErrors() {
		if err := injector.CheckFields(fields); err != nil {
			f.fail("", scrub(err.Error(), fields))
		}
	}
	exp, msg := parseExpiry(f.value("expires"), p.now())
	if msg != "" {
		f.fail("expires", msg)
	}
	ns.Spec, ns.Fields, ns.ExpiresAt = spec, fields, exp
	ns.Policy = policy.Spec{Destinations: hosts}
	if _, err := policy.Compile(ns.Policy); err != nil && !f.hasErrors() {
		f.fail("hosts", err.Error())
	}
	return ns, f.value("app"), fields, !f.hasErrors()
}

// fieldFor names the form field a backend ErrInvalid message is about, so
// the error shows next to it: the stores' messages start with the name of
// what is wrong ("app may not contain ...", "labels[0] is empty",
// "expiry ... is after ..."). Anything else goes on the form.
func fieldFor(msg string) string {
	rest := strings.TrimPrefix(msg, secretstore.ErrInvalid.Error()+": ")
	word, _, _ := strings.Cut(rest, " ")
	word, _, _ = strings.Cut(word, "[")
	switch strings.TrimSuffix(word, ":") {
	case "app":
		return "app"
	case "name":
		return "name"
	case "labels", "label":
		return "labels"
	case "expiry", "expires_at":
		return "expires"
	}
	return ""
}

// paramAt names the param_ field a provider Build error is about, or ""
// for the form.
func paramAt(err error, prov *providers.Provider) string {
	msg := err.Error()
	for _, prm := range prov.Params {
		if strings.Contains(msg, "--param "+prm.Name+"=") || strings.Contains(msg, "parameter \""+prm.Name+"\"") {
			return "param_" + prm.Name
		}
	}
	return ""
}

// customValueKey returns the form key holding custom field n's value.
func customValueKey(f *secretForm, n string) string {
	for _, i := range []string{"1", "2", "3"} {
		if f.value("custom_name_"+i) == n {
			return "custom_value_" + i
		}
	}
	return ""
}

// customSpec builds the Spec of a "type:" form.
func customSpec(f *secretForm) (inject.Spec, bool) {
	typ := strings.TrimPrefix(f.Kind, kindType)
	s := inject.Spec{Type: typ, Header: f.value("header"), Format: f.value("format")}
	switch typ {
	case inject.TypeAWSSigV4:
		s.Region, s.Service, s.UnsignedPayload = f.value("region"), f.value("service"), f.value("unsigned_payload") != ""
	case inject.TypeCustom:
		for _, i := range []string{"1", "2", "3"} {
			if n := f.value("custom_name_" + i); n != "" {
				s.Fields = append(s.Fields, n)
			}
		}
		if len(s.Fields) == 0 {
			return s, f.fail("custom_name_1", "Name at least one secret field.")
		}
		for _, l := range strings.Split(f.value("headers"), "\n") {
			if l = strings.TrimSpace(l); l != "" {
				name, tmpl, ok := strings.Cut(l, ":")
				if !ok {
					return s, f.fail("headers", "Write each header rule as Name: template.")
				}
				s.Headers = append(s.Headers, inject.Rule{Name: strings.TrimSpace(name), Format: strings.TrimSpace(tmpl)})
			}
		}
		for _, l := range strings.Split(f.value("query"), "\n") {
			if l = strings.TrimSpace(l); l != "" {
				name, tmpl, ok := strings.Cut(l, "=")
				if !ok {
					return s, f.fail("query", "Write each query rule as name=template.")
				}
				s.Query = append(s.Query, inject.Rule{Name: strings.TrimSpace(name), Format: strings.TrimSpace(tmpl)})
			}
		}
		s.Basic, s.Path = f.value("basic"), f.value("path")
		for _, l := range strings.Split(f.value("defaults"), "\n") {
			if l = strings.TrimSpace(l); l != "" {
				name, v, ok := strings.Cut(l, ":")
				if !ok {
					return s, f.fail("defaults", "Write each static header as Name: value.")
				}
				s.Defaults = append(s.Defaults, inject.StaticHeader{Name: strings.TrimSpace(name), Value: strings.TrimSpace(v)})
			}
		}
	}
	return s, true
}
