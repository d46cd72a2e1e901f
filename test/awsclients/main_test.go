package awsclients

import (
	"os"
	"testing"

	"github.com/alter-sidecar/alter/internal/testbin"
)

// alterBin is the binary built once for the package run.
var alterBin string

func TestMain(m *testing.M) { os.Exit(testbin.Main(m, &alterBin)) }
