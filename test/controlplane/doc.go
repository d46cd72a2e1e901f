// Package controlplane runs the control plane as an operator would: two
// `alter server` replicas on one PostgreSQL database and sidecars
// (`alter proxy` with store.type: remote) resolving grants from them, all
// as built binaries. Its tests check what the control plane promises from
// the outside (README, "The control plane"): a revocation made through one replica reaches a sidecar
// connected to the other within a second; sidecars keep serving cached
// grants while the servers are down, up to max_stale, then fail closed;
// and no audit record is lost on the way to the server.
//
// The suite needs PostgreSQL (ALTER_TEST_DATABASE_URL, as .ci/run sets it)
// and is skipped, saying so, without it.
package controlplane
