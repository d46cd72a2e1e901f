//go:build !windows

package main

import (
	"context"
	"crypto/x509"
	"fmt"
	"path/filepath"

	"github.com/alter-sidecar/alter/certs"
	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/secretstore"
)

// The benchmark's own made-up credentials. They protect nothing; the
// direct leg sends them itself, as an application without alter would.
const (
	benchToken     = "bench-token-not-a-secret"
	benchAWSKeyID  = "AKIDBENCHEXAMPLE0001"
	benchAWSSecret = "bench-aws-secret-not-a-secret"
	// directSigV4 stands in for the signature an application would compute
	// itself: the direct leg does not pay for signing, so scenario e shows
	// the whole cost of the proxy doing it.
	directSigV4 = "AWS4-HMAC-SHA256 Credential=" + benchAWSKeyID + "/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0000"
)

// fixture is everything on disk the proxy child needs, made fresh in a temp
// directory: master key, store with two grants, the proxy's CA and the
// upstreams' CA.
type fixture struct {
	dir         string
	storePath   string
	keyPath     string
	mitmCA      *certs.CA
	mitmCert    string // path
	mitmKey     string // path
	upCA        *certs.CA
	upCert      string // path
	mitmPool    *x509.CertPool
	upPool      *x509.CertPool
	bearerGrant string
	sigv4Grant  string
}

func newFixture(ctx context.Context, dir string) (*fixture, error) {
	f := &fixture{
		dir:       dir,
		storePath: filepath.Join(dir, "grants.json"),
		keyPath:   filepath.Join(dir, "master.key"),
		mitmCert:  filepath.Join(dir, "ca.pem"),
		mitmKey:   filepath.Join(dir, "ca-key.pem"),
		upCert:    filepath.Join(dir, "upstream-ca.pem"),
	}
	var err error
	if f.mitmCA, err = certs.CreateCA(f.mitmCert, f.mitmKey); err != nil {
		return nil, err
	}
	if f.upCA, err = certs.CreateCA(f.upCert, filepath.Join(dir, "upstream-ca-key.pem")); err != nil {
		return nil, err
	}
	f.mitmPool = x509.NewCertPool()
	f.mitmPool.AddCert(f.mitmCA.Certificate())
	f.upPool = x509.NewCertPool()
	f.upPool.AddCert(f.upCA.Certificate())

	if err := secretstore.GenerateKeyFile(f.keyPath); err != nil {
		return nil, err
	}
	keys, err := secretstore.LoadKeyFile(f.keyPath)
	if err != nil {
		return nil, err
	}
	store, err := secretstore.OpenFile(f.storePath, keys)
	if err != nil {
		return nil, err
	}
	defer store.Close()
	bearer, err := store.Add(ctx, secretstore.NewSecret{
		Spec:   inject.Spec{Type: inject.TypeBearer},
		Fields: inject.Fields{"token": benchToken},
		Name:   "bench-bearer",
		Policy: policy.Spec{Destinations: []string{hostAPI, "http://" + hostAPI + ":" + plainPort}},
	})
	if err != nil {
		return nil, fmt.Errorf("add bearer grant: %w", err)
	}
	sigv4, err := store.Add(ctx, secretstore.NewSecret{
		// A made-up host tells the signer nothing, so region and service
		// are stored with the secret, as for any non-AWS endpoint.
		Spec:   inject.Spec{Type: inject.TypeAWSSigV4, Region: "us-east-1", Service: "s3"},
		Fields: inject.Fields{"access_key_id": benchAWSKeyID, "secret_access_key": benchAWSSecret},
		Name:   "bench-sigv4",
		Policy: policy.Spec{Destinations: []string{"http://" + hostAWS + ":" + plainPort}},
	})
	if err != nil {
		return nil, fmt.Errorf("add sigv4 grant: %w", err)
	}
	f.bearerGrant, f.sigv4Grant = bearer.ID, sigv4.ID
	return f, nil
}
