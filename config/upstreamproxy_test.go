package config

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
)

const proxyPassword = "pw-sentinel-5e1f"

func TestUpstreamProxy(t *testing.T) {
	cases := []struct {
		name, value string
		want        UpstreamProxy
		wantErr     string
	}{
		{"none", "", UpstreamProxy{}, ""},
		{"host and port", "http://proxy.internal:3128", UpstreamProxy{Addr: "proxy.internal:3128"}, ""},
		{"a trailing slash", "http://10.0.0.5:8080/", UpstreamProxy{Addr: "10.0.0.5:8080"}, ""},
		{"IPv6", "http://[fd00::5]:3128", UpstreamProxy{Addr: "[fd00::5]:3128"}, ""},
		{"user and password", "http://svc:" + proxyPassword + "@proxy.internal:3128",
			UpstreamProxy{Addr: "proxy.internal:3128", Username: "svc", password: proxyPassword}, ""},
		{"percent-encoded password", "http://svc:p%40ss%3Aword" + proxyPassword + "@proxy.internal:3128",
			UpstreamProxy{Addr: "proxy.internal:3128", Username: "svc", password: "p@ss:word" + proxyPassword}, ""},
		{"https", "https://svc:" + proxyPassword + "@proxy.internal:3128", UpstreamProxy{}, "must be an http:// URL"},
		{"no scheme", "proxy.internal:3128", UpstreamProxy{}, "must be an http:// URL"},
		{"no port", "http://svc:" + proxyPassword + "@proxy.internal", UpstreamProxy{}, "must name the host and port"},
		{"bad port", "http://svc:" + proxyPassword + "@proxy.internal:0", UpstreamProxy{}, "must name the host and port"},
		{"a path", "http://proxy.internal:3128/x", UpstreamProxy{}, "must be just"},
		{"a query", "http://svc:" + proxyPassword + "@proxy.internal:3128?x=1", UpstreamProxy{}, "must be just"},
		{"not a URL", "http://svc:" + proxyPassword + "@proxy internal:3128", UpstreamProxy{}, "is not a URL"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := fmt.Sprintf("version: 1\nupstream: {proxy: %q}\n", c.value)
			cfg, err := Parse([]byte(doc), t.TempDir(), "/etc/alter")
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), "upstream.proxy: ") || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %v, want upstream.proxy: ...%s", err, c.wantErr)
				}
				if strings.Contains(err.Error(), proxyPassword) {
					t.Fatalf("the error repeats the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(cfg.Upstream.Proxy, c.want) {
				t.Fatalf("proxy %#v, want %#v", cfg.Upstream.Proxy, c.want)
			}
			back, err := Parse(Render(cfg), t.TempDir(), "/etc/alter")
			if err != nil || !reflect.DeepEqual(back.Upstream.Proxy, cfg.Upstream.Proxy) {
				t.Fatalf("Render does not round-trip the proxy: %v", err)
			}
		})
	}
}

// The password is masked however a config is printed.
func TestUpstreamProxyIsRedacted(t *testing.T) {
	cfg, err := Parse([]byte("version: 1\nupstream: {proxy: \"http://svc:"+proxyPassword+"@proxy.internal:3128\"}\n"), t.TempDir(), "/etc")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Upstream.Proxy.Password() != proxyPassword {
		t.Fatal("the password was not read")
	}
	js, _ := json.Marshal(cfg)
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("config", "upstream", cfg.Upstream.Proxy)
	for name, s := range map[string]string{
		"%v": fmt.Sprintf("%v", cfg), "%+v": fmt.Sprintf("%+v", cfg), "%#v": fmt.Sprintf("%#v", cfg),
		"Sprint": fmt.Sprint(cfg.Upstream.Proxy), "json": string(js), "slog": logged.String(),
	} {
		if strings.Contains(s, proxyPassword) {
			t.Errorf("%s prints the password: %s", name, s)
		}
		if !strings.Contains(s, "proxy.internal:3128") {
			t.Errorf("%s does not name the proxy: %s", name, s)
		}
	}
}
