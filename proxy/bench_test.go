package proxy

import (
	"io"
	"net/http"
	"net/url"
	"testing"

	"github.com/alter-sidecar/alter/inject"
)

// Hot-path micro-benchmarks. The load program (cmd/alter-bench) measures
// the proxy as a whole against direct requests.

func typicalRequestHeader() http.Header {
	return http.Header{
		"Accept":          {"application/json"},
		"Accept-Encoding": {"gzip"},
		"Connection":      {"keep-alive, X-Trace"},
		"Content-Type":    {"application/json"},
		"User-Agent":      {"app/1.0"},
		"X-Alter-Grant":   {grantA},
		"X-Alter-Reason":  {"nightly sync"},
		"X-Request-Id":    {"abc"},
		"X-Trace":         {"1"},
		"Authorization":   {"Bearer app"},
	}
}

func BenchmarkReadMarker(b *testing.B) {
	h := typicalRequestHeader()
	b.ReportAllocs()
	for b.Loop() {
		if _, ok, err := readMarker(h); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

// BenchmarkReadCallContext: the call-context pass over a typical header
// set, without the headers (every request today) and with all of them.
func BenchmarkReadCallContext(b *testing.B) {
	with := typicalRequestHeader()
	with["X-Alter-Run-Id"] = []string{"run-1"}
	with["X-Alter-Thread-Id"] = []string{"thread-1"}
	with["X-Alter-Tool"] = []string{"search"}
	with["Traceparent"] = []string{validTP}
	for _, bc := range []struct {
		name string
		h    http.Header
	}{{"none", typicalRequestHeader()}, {"all", with}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := readCallContext(bc.h); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkStripHeaders(b *testing.B) {
	src := typicalRequestHeader()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		h := src.Clone()
		b.StartTimer()
		inject.RemoveHopByHop(h)
		inject.RemoveAlterHeaders(h)
	}
}

// BenchmarkProxyPlainHTTP sends keep-alive plain-HTTP requests with a bearer
// grant through the proxy to a loopback upstream. Client and upstream run
// in the same process, so its allocation count is an upper bound on the
// proxy's; use it to compare changes, and cmd/alter-bench for ratios.
func BenchmarkProxyPlainHTTP(b *testing.B) {
	e := newEnv(b)
	up := e.plainUpstream("api.example.com:80")
	_ = up
	e.addGrant(grantA, inject.Spec{Type: inject.TypeBearer}, inject.Fields{"token": "sk-bench"}, "http://api.example.com")
	proxyURL, _ := url.Parse(e.proxySrv.URL)
	c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL), MaxIdleConnsPerHost: 64}}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodGet, "http://api.example.com/v1/items?limit=10", nil)
			req.Header.Set(HeaderGrant, grantA)
			resp, err := c.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}
