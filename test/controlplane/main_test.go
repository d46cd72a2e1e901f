package controlplane

import (
	"os"
	"testing"

	"github.com/alter-sidecar/alter/internal/testbin"
)

// alterBin is the binary built once for the whole package run: the suite
// runs what users run, not the packages in process.
var alterBin string

func TestMain(m *testing.M) { os.Exit(testbin.Main(m, &alterBin)) }
