package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/alter-sidecar/alter/secretstore"
)

// grantDeleter is the part of a store that can delete grants: the file
// store. The control plane's API has no delete call yet.
type grantDeleter interface {
	Delete(ctx context.Context, grantID string, withClones bool) (secretstore.Deleted, error)
}

// deleteCommand is `alter grant delete`: remove a grant that can no longer
// be used, and its secret once no grant refers to it.
func (a *app) deleteCommand() *cobra.Command {
	var withClones bool
	cmd := &cobra.Command{
		Use:   "delete ID [--with-clones]",
		Short: "Delete a revoked or expired grant (and its secret, once no grant uses it)",
		Long: "delete removes grant ID from the store. Only a grant that can no longer be used may be deleted:\n" +
			"revoked, expired, or under a revoked or expired parent; revoke an active one first. A grant with\n" +
			"clones is refused unless --with-clones is given, which deletes the clones too (they must be\n" +
			"unusable as well, as the clones of a revoked or expired grant are). The secret behind the grant is\n" +
			"deleted when no remaining grant uses it. Each deletion is printed on standard error.\n\n" +
			"A client that still sends a deleted grant id gets grant_unavailable from the proxy, as for a\n" +
			"revoked one, as long as another grant still makes the proxy terminate that host; otherwise its\n" +
			"CONNECT is tunnelled untouched (no credential is injected).",
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withStore(func(s secretstore.Admin) error {
				d, ok := s.(grantDeleter)
				if !ok {
					return errors.New("grant delete is not supported for a remote store (alter server) yet: revoke the grant instead (alter grant revoke ID)")
				}
				res, err := d.Delete(cmd.Context(), args[0], withClones)
				if ce := (*secretstore.ClonesError)(nil); errors.As(err, &ce) {
					return fmt.Errorf("grant %s has %d clone(s) (%s): pass --with-clones to delete them too",
						ce.Grant, len(ce.Clones), strings.Join(ce.Clones, ", "))
				}
				if err != nil {
					return err
				}
				for i, id := range res.Grants {
					what := "grant"
					if i > 0 {
						what = "clone"
					}
					fmt.Fprintf(a.stderr, "deleted %s %s\n", what, id)
				}
				for _, id := range res.Secrets {
					fmt.Fprintf(a.stderr, "deleted secret %s (no grant uses it any more)\n", id)
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&withClones, "with-clones", false, "delete the grant's clones too (they must be revoked or expired as well)")
	return cmd
}
