// Package sdks runs the Python and TypeScript SDKs' own tests (unittest,
// node --test) against the built binary and a local TLS stand-in API, and
// holds their error-code lists to package errcode's.
package sdks
