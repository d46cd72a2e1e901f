// Package examples holds the test that runs every client recipe under
// examples/ (curl, Python requests, Node undici, the Go SDK) against the
// built alter binary, as a newcomer would run them from the README.
package examples
