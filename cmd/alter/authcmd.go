package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/spf13/cobra"
)

func (a *app) authCommand() *cobra.Command {
	auth := &cobra.Command{Use: "auth", Short: "Client credentials for a shared proxy (proxy_auth)"}
	auth.AddCommand(&cobra.Command{
		Use:   "hash < secret",
		Short: "Print the SHA-256 digest of a client secret from stdin, for proxy_auth.clients[].sha256",
		Long: "hash reads a client's password or token from standard input and prints its SHA-256 in hex.\n" +
			"The config keeps only the digest; the client sends the secret as Proxy-Authorization\n" +
			"(Basic name:secret, or Bearer secret).",
		Args: exactArgs(0),
		RunE: func(*cobra.Command, []string) error {
			fields, err := a.readFields([]string{"secret"})
			if err != nil {
				return err
			}
			sum := sha256.Sum256([]byte(fields["secret"]))
			fmt.Fprintln(a.stdout, hex.EncodeToString(sum[:]))
			return nil
		},
	})
	return auth
}
