package main

import (
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	fakeProxyMain()
	testscript.Main(m, map[string]func(){
		"alter": func() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs the command-line scripts in testdata/script: the CLI as
// a user types it, with ALTER_HOME in the script's own directory.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			env.Setenv("ALTER_HOME", env.WorkDir+"/home")
			env.Setenv("HOME", env.WorkDir)
			return nil
		},
	})
}
