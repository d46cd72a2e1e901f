package proxy

import (
	"net/http"
	"testing"
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

func BenchmarkStripHeaders(b *testing.B) {
	src := typicalRequestHeader()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		h := src.Clone()
		b.StartTimer()
		removeHopByHop(h)
		removeAlter(h)
	}
}
