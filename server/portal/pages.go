package portal

import (
	"bytes"
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"
)

// Pages are html/template files in templates/: layout.html holds the
// frame (landmarks, navigation, the logout form) and each page file
// defines "content". html/template escapes every value by context, so a
// grant name or an audit path someone chose cannot become markup.

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// pageNames are the page templates; each is parsed with the layout.
var pageNames = []string{"login", "grants", "grant", "addchoice", "addsecret", "revoke", "audit", "approvals", "approval", "error"}

type pages struct{ t map[string]*template.Template }

var funcs = template.FuncMap{
	"when": func(t any) string {
		switch v := t.(type) {
		case time.Time:
			if v.IsZero() {
				return ""
			}
			return v.UTC().Format("2006-01-02 15:04 UTC")
		case *time.Time:
			if v == nil {
				return ""
			}
			return v.UTC().Format("2006-01-02 15:04 UTC")
		}
		return ""
	},
	"join": strings.Join,
	// decide is what the approval decision form needs: the approval, the
	// session's CSRF token and the "for" choices.
	"decide": func(r approvalRow, csrf string) decideView { return decideView{Row: r, CSRF: csrf, Fors: approvalFors} },
	"prefix": func() string { return Prefix },
}

func mustParsePages() *pages {
	ps := &pages{t: map[string]*template.Template{}}
	for _, name := range pageNames {
		t := template.Must(template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/partials.html", "templates/"+name+".html"))
		ps.t[name] = t
	}
	return ps
}

// view is what every page template gets.
type view struct {
	Title  string // the page's own title; the layout adds the site name
	Nav    string // which navigation entry is current
	User   string // empty on the login and error pages before login
	CSRF   string // the session's token, for every POST form
	Notice string // a fixed confirmation ("Secret stored."), never user text
	Data   any
}

// render writes a page. It renders into a buffer first so a template
// error becomes a clean 500, not half a page.
func (p *Portal) render(w http.ResponseWriter, r *http.Request, status int, page string, v view) {
	if s := sessionOf(r); s.User != "" {
		v.User, v.CSRF = s.User, s.CSRF
	}
	var buf bytes.Buffer
	if err := p.pages.t[page].ExecuteTemplate(&buf, "layout", v); err != nil {
		p.log.Error("render page", zapErr(err))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(escapeBidi(buf.Bytes()))
}

// staticHandler serves the embedded CSS and script. They hold nothing
// private, so unlike pages they may be cached (and revalidated).
func staticHandler() http.Handler {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err)
	}
	fsrv := http.StripPrefix(Prefix+"/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r) // no directory listings
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		fsrv.ServeHTTP(w, r)
	})
}
