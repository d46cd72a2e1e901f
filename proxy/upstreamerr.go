package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"

	"github.com/alter-sidecar/alter/errcode"

	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/proxy/internal/h1"
)

// Reasons for an upstream failure, in the "reason" field of the JSON body
// (defined in errcode). The code stays upstream_error (or upstream_timeout)
// so clients that know only the code keep working; the reason says what to
// do about it. Neither names an address: the client learns what failed,
// not where the proxy's network goes.
const (
	ReasonDNS         = errcode.ReasonDNS
	ReasonRefused     = errcode.ReasonRefused
	ReasonUnreachable = errcode.ReasonUnreachable
	ReasonCertificate = errcode.ReasonCertificate
	ReasonTLS         = errcode.ReasonTLS
	ReasonClosed      = errcode.ReasonClosed
	ReasonProtocol    = errcode.ReasonProtocol
	ReasonConnect     = errcode.ReasonConnect
	ReasonResponse    = errcode.ReasonResponse
	// ReasonUpstreamProxy: upstream.proxy failed, not the upstream.
	ReasonUpstreamProxy = errcode.ReasonUpstreamProxy
)

var (
	errUpstreamDNS         = failure{status: http.StatusBadGateway, code: CodeUpstreamError, message: "the upstream host name could not be resolved", reason: ReasonDNS}
	errUpstreamRefused     = failure{status: http.StatusBadGateway, code: CodeUpstreamError, message: "the upstream refused the connection (nothing listens on that port)", reason: ReasonRefused}
	errUpstreamUnreachable = failure{status: http.StatusBadGateway, code: CodeUpstreamError, message: "the upstream network is unreachable from the proxy", reason: ReasonUnreachable}
	errUpstreamCertificate = failure{status: http.StatusBadGateway, code: CodeUpstreamError, message: "the upstream's TLS certificate is not trusted (unknown authority, wrong name or expired); for a private CA set upstream.ca_file", reason: ReasonCertificate}
	errUpstreamTLS         = failure{status: http.StatusBadGateway, code: CodeUpstreamError, message: "the TLS handshake with the upstream failed", reason: ReasonTLS}
	errUpstreamClosed      = failure{status: http.StatusBadGateway, code: CodeUpstreamError, message: "the upstream closed the connection before answering", reason: ReasonClosed}
	errUpstreamProtocol    = failure{status: http.StatusBadGateway, code: CodeUpstreamError, message: "the upstream's answer was not valid HTTP", reason: ReasonProtocol}
	errConnectTimeout      = failure{status: http.StatusGatewayTimeout, code: CodeUpstreamTimeout, message: "the upstream did not accept a connection in time", reason: ReasonConnect}
)

// classify maps an upstream round-trip error to the client's answer. The
// error itself goes to the log only: Go's errors name URLs and addresses.
func classify(err error) failure {
	var s *ssrfError
	if errors.As(err, &s) {
		return policyDenied(policy.RuleDestination, "the destination resolves to an address grants may not reach")
	}
	var up *upstreamProxyError
	if errors.As(err, &up) {
		return up.failure()
	}
	if errors.Is(err, inject.ErrBadChunk) {
		// The client's own body broke off mid-stream; the upstream got
		// no end to it, so it took nothing.
		return badRequest("the aws-chunked request body is malformed")
	}
	var dns *net.DNSError
	if errors.As(err, &dns) && !dns.IsTimeout {
		return errUpstreamDNS
	}
	var op *net.OpError
	isDial := errors.As(err, &op) && op.Op == "dial"
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		if isDial || (dns != nil && dns.IsTimeout) {
			return errConnectTimeout
		}
		return errUpstreamTimeout
	}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return errUpstreamRefused
	case errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTUNREACH):
		return errUpstreamUnreachable
	case isCertificateError(err):
		return errUpstreamCertificate
	}
	var alert tls.AlertError
	var rec tls.RecordHeaderError
	if errors.As(err, &alert) || errors.As(err, &rec) {
		return errUpstreamTLS
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return errUpstreamClosed
	}
	if errors.Is(err, h1.ErrSwitching) || errors.Is(err, h1.ErrTooMany1xx) ||
		// net/http's parse errors are unexported strings: "malformed HTTP
		// response", "malformed HTTP status code", "malformed HTTP version".
		strings.Contains(err.Error(), "malformed HTTP") {
		return errUpstreamProtocol
	}
	return errUpstream
}

func isCertificateError(err error) bool {
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	return errors.As(err, &unknown) || errors.As(err, &host) || errors.As(err, &invalid) || errors.As(err, &verify)
}

// redactURLError drops the URL (and its query string) from a *url.Error,
// keeping the cause; transport errors otherwise repeat the full URL.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
