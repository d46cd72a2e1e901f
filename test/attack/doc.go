// Package attack is the security regression suite: one test group per attack
// class of SECURITY.md, each driving the built `alter` binary as a user would
// (alter init, secret add on stdin, alter proxy --config with upstream.resolve
// pins) against real TLS upstreams in the test process.
//
// Every group uses a fresh, random sentinel as its secret and checks, besides
// the exact status of each attack, that a refused request sent no byte to any
// upstream (counted at the upstream listeners) and that the sentinel appears
// in no response, in the proxy's stderr and stdout, in the audit file and in
// /metrics. The package holds only tests; this file exists for its doc.
package attack
