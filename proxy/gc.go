package proxy

import (
	"os"
	"runtime/debug"
)

// GCPercent is the garbage collector's target the proxy runs with unless
// GOGC says otherwise. The proxy's live heap is small (caches of a few MiB)
// and nearly every allocation dies with its request, so the default of 100
// collects tens of times a second under load for little memory saved: 400
// cut the proxy's CPU per request by about a tenth in cmd/alter-bench, at
// the price of a heap that may grow to five times the live one.
const GCPercent = 400

// TuneGC applies GCPercent unless the GOGC environment variable is set. It
// changes the whole process, so only a program's main calls it.
func TuneGC() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(GCPercent)
	}
}
