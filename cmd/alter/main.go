// Command alter is the credential-injecting sidecar proxy and the tool that
// stores secrets and manages grants for it. Secrets are read from standard
// input only; the only thing "secret add" prints on standard output is the
// new grant id, so G=$(... | alter secret add ...) works.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

// app carries what every subcommand needs: the streams and the global flags.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	homeFlag       string
	// The control plane the admin commands talk to instead of the file
	// store (--server or ALTER_SERVER); see remoteAdmin in home.go.
	serverFlag, tokenFileFlag, serverCAFlag string
}

// run executes the command line and returns the process exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.Execute(); err != nil {
		var es exitStatus
		if errors.As(err, &es) {
			// alter run: the command's own outcome, passed on.
			if es.msg != "" {
				fmt.Fprintf(stderr, "alter: %s\n", es.msg)
			}
			if es.signal != nil {
				raise(es.signal)
			}
			return es.code
		}
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "alter: %v\n", err)
			return 2
		}
		fmt.Fprintf(stderr, "alter: %v\n", err)
		return 1
	}
	return 0
}

// usageError marks mistakes in how a command was called (exit code 2).
type usageError struct{ error }

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "alter",
		Short:         "Keep third-party credentials out of application code",
		Long:          "alter is an HTTP(S) proxy that injects stored credentials into requests that name a grant\nwith the X-Alter-Grant header. Stored secrets are write-only.",
		SilenceUsage:  true,
		SilenceErrors: true,
		// --version prints what `alter version` prints.
		Version: currentBuild().String(),
	}
	root.SetVersionTemplate("{{.Version}}")
	root.PersistentFlags().StringVar(&a.homeFlag, "home", "", "directory for key, CA, store and config (default $ALTER_HOME or ~/.alter)")
	root.PersistentFlags().StringVar(&a.serverFlag, "server", "", "control plane URL for secret, grant and audit query commands (default $"+envServer+"); the token comes from $"+envToken+" or --token-file")
	root.PersistentFlags().StringVar(&a.tokenFileFlag, "token-file", "", "file holding the admin token for --server (mode 0600; default $"+envToken+")")
	root.PersistentFlags().StringVar(&a.serverCAFlag, "server-ca", "", "PEM roots for the server's certificate (default $"+envServerCA+", else the system roots)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(a.initCommand(), a.proxyCommand(), a.secretCommand(), a.grantCommand(), a.caCommand(), a.providersCommand(), a.authCommand(), a.auditCommand())
	root.AddCommand(a.profileCommand(), a.runCommand(), a.envCommand(), a.approvalsCommand())
	root.AddCommand(a.serverCommand())
	root.AddCommand(a.versionCommand(), a.demoCommand(), a.doctorCommand())
	return root
}

// exactArgs is cobra.ExactArgs with our usage error type.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError{fmt.Errorf("%s takes %d argument(s), got %d (see --help)", cmd.CommandPath(), n, len(args))}
		}
		return nil
	}
}
