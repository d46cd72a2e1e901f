package sdks

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alter-sidecar/alter/internal/testbin"
)

// TestInstallFromTheClone installs each SDK as the README says, into a
// fresh environment outside the repository, and imports it from a program
// there: `pip install ./sdk/python` in a new virtualenv (the package builds
// with its own standard-library backend, so no index is needed), and
// `npm install ./sdk/typescript` in a new npm project.
func TestInstallFromTheClone(t *testing.T) {
	t.Run("python", func(t *testing.T) {
		py, err := exec.LookPath("python3")
		testbin.Need(t, "python3", err)
		dir := t.TempDir()
		venv := filepath.Join(dir, "venv")
		if out, err := exec.Command(py, "-m", "venv", venv).CombinedOutput(); err != nil {
			testbin.Need(t, "python3 -m venv", err)
			t.Log(string(out))
		}
		src, _ := filepath.Abs(pyDir)
		if out, err := exec.Command(filepath.Join(venv, "bin", "pip"), "install", "--no-input", src).CombinedOutput(); err != nil {
			t.Fatalf("pip install %s: %v\n%s", src, err, out)
		}
		prog := withDir(exec.Command(filepath.Join(venv, "bin", "python"), "-c",
			"import alter_vault; v = alter_vault.Vault(); print(type(v).__name__, alter_vault.__file__)"), dir)
		out, err := prog.CombinedOutput()
		if err != nil || !strings.HasPrefix(string(out), "Vault ") || !strings.Contains(string(out), venv) {
			t.Fatalf("a program outside the repo imports the installed SDK: %v\n%s", err, out)
		}
	})
	t.Run("typescript", func(t *testing.T) {
		npm, err := exec.LookPath("npm")
		testbin.Need(t, "npm", err)
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"name":"fresh-app","private":true,"type":"module"}`), 0o600); err != nil {
			t.Fatal(err)
		}
		src, _ := filepath.Abs(tsDir)
		if out, err := withDir(exec.Command(npm, "install", "--no-audit", "--no-fund", src), dir).CombinedOutput(); err != nil {
			t.Fatalf("npm install %s: %v\n%s", src, err, out)
		}
		prog := withDir(exec.Command("node", "--input-type=module", "-e",
			"import { Vault } from '@alter-sidecar/vault'; console.log(typeof new Vault().request)"), dir)
		out, err := prog.CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "function" {
			t.Fatalf("a program outside the repo imports the installed SDK: %v\n%s", err, out)
		}
	})
}
