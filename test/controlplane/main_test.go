package controlplane

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// alterBin is built once for the package: the suite runs what users run.
var alterBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "alter-controlplane-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	alterBin = filepath.Join(dir, "alter")
	out, err := exec.Command("go", "build", "-o", alterBin, "github.com/alter-sidecar/alter/cmd/alter").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "go build ./cmd/alter: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
