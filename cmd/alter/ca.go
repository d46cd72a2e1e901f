package main

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func (a *app) caCommand() *cobra.Command {
	ca := &cobra.Command{Use: "ca", Short: "The CA clients trust for terminated HTTPS"}
	ca.AddCommand(&cobra.Command{
		Use:   "export",
		Short: "Print the CA certificate (PEM) for clients to trust",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, _, _, err := a.loadConfig("")
			if err != nil {
				return err
			}
			data, err := os.ReadFile(cfg.MITM.CACert)
			if err != nil {
				return fmt.Errorf("read CA certificate: %w (run alter init first)", err)
			}
			block, _ := pem.Decode(data)
			if block == nil || block.Type != "CERTIFICATE" {
				return fmt.Errorf("%s: no PEM certificate", cfg.MITM.CACert)
			}
			if _, err := x509.ParseCertificate(block.Bytes); err != nil {
				return fmt.Errorf("%s: %v", cfg.MITM.CACert, err)
			}
			_, err = a.stdout.Write(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: block.Bytes}))
			return err
		},
	})
	return ca
}
