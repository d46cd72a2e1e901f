// Command go calls an API through the alter sidecar with the Go SDK: no
// proxy settings and no CA, only the sidecar's address (ALTER_PROXY,
// default http://127.0.0.1:8080), ALTER_GRANT and TARGET_URL.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/alter-sidecar/alter/sdk/vault"
)

func main() {
	grant, url := os.Getenv("ALTER_GRANT"), os.Getenv("TARGET_URL")
	if grant == "" || url == "" {
		fail("set ALTER_GRANT and TARGET_URL")
	}
	client, err := vault.New()
	if err != nil {
		fail(err.Error())
	}
	resp, err := client.Request(context.Background(), "GET", url, nil, grant, vault.WithReason("examples/go"))
	var denied *vault.PolicyDeniedError
	switch {
	case errors.As(err, &denied):
		fail("the grant's " + denied.Rule + " rule refused the request")
	case err != nil:
		fail(err.Error())
	}
	defer resp.Body.Close()
	if _, err := io.Copy(os.Stdout, resp.Body); err != nil {
		fail(err.Error())
	}
	if resp.StatusCode >= 400 {
		fail(fmt.Sprintf("the API answered %d", resp.StatusCode))
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, msg)
	os.Exit(1)
}
