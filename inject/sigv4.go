package inject

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// ErrBodyTooLarge: the body must be hashed for a signature and is larger
// than Env.MaxSignedBody. The proxy answers 413.
var ErrBodyTooLarge = errors.New("request body too large to sign")

// ErrBadRequest: the client's request cannot be signed as sent (for
// example an X-Amz-Content-Sha256 value we cannot honour). The proxy
// answers 400.
var ErrBadRequest = errors.New("request cannot be signed")

// maxUpfrontBody is how much of a declared body is allocated before it is
// read; beyond it the buffer grows with the data.
const maxUpfrontBody = 1 << 20

const (
	unsignedPayload          = "UNSIGNED-PAYLOAD"
	streamingUnsignedTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
	headerContentSHA         = "X-Amz-Content-Sha256"
	emptyPayloadHash         = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

// Headers and query parameters that carry a client-made signature. They are
// removed before signing: the request must carry our signature only.
var (
	sigHeaders = []string{"Authorization", "X-Amz-Date", "X-Amz-Security-Token"}
	sigQuery   = []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
		"X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Security-Token"}
)

// sigv4Step signs requests with AWS Signature Version 4, using the AWS SDK's
// signer. Region and service come from the spec or, when it leaves them
// out, from the request's host.
type sigv4Step struct {
	region, service string
	unsigned        bool
	signer          *v4.Signer
}

func newSigV4Step(s Spec) (*sigv4Step, error) {
	for name, v := range map[string]string{"region": s.Region, "service": s.Service} {
		if v != "" && !awsName(v) {
			return nil, fmt.Errorf("%w: %s %q is not an AWS %s name (a-z, 0-9, -)", ErrInvalidSpec, name, v, name)
		}
	}
	return &sigv4Step{region: s.Region, service: s.Service, unsigned: s.UnsignedPayload, signer: v4.NewSigner()}, nil
}

func (s *sigv4Step) apply(req *http.Request, f Fields, env Env) error {
	region, service := s.region, s.service
	if region == "" || service == "" {
		inferred, ok := InferAWS(req.URL.Hostname())
		if !ok {
			return fmt.Errorf("%w: cannot tell the AWS region and service from the host; store them with the secret", ErrBadRequest)
		}
		region, service = orDefault(region, inferred.Region), orDefault(service, inferred.Service)
	}
	for _, h := range sigHeaders {
		deleteHeader(req.Header, h)
	}
	if q := req.URL.Query(); hasAny(q, sigQuery) {
		for _, k := range sigQuery {
			q.Del(k)
		}
		req.URL.RawQuery = q.Encode()
	}

	hash, err := s.payloadHash(req, env.MaxSignedBody)
	if err != nil {
		return err
	}
	if service == "s3" || hasHeader(req.Header, headerContentSHA) {
		deleteHeader(req.Header, headerContentSHA)
		req.Header.Set(headerContentSHA, hash)
	}
	creds := aws.Credentials{AccessKeyID: f["access_key_id"], SecretAccessKey: f["secret_access_key"], SessionToken: f["session_token"]}
	err = s.signer.SignHTTP(context.Background(), creds, req, hash, service, region, env.Now, func(o *v4.SignerOptions) {
		// S3 signs the path as sent; other services want it escaped again.
		o.DisableURIPathEscaping = service == "s3"
	})
	if err != nil || (hash != streamingSigned && hash != streamingSignedTrailer) {
		return err
	}
	// A chunk-signed body: every chunk signature is redone with the stored
	// key, chained from the signature just made.
	sig, err := newChunkSigner(creds.SecretAccessKey, req.Header.Get("X-Amz-Date"), region, service, seedSignature(req.Header.Get("Authorization")))
	if err != nil {
		return err
	}
	req.Body = newChunkResigner(req.Body, sig, hash == streamingSignedTrailer, maxChunk(env.MaxSignedBody))
	req.GetBody = nil // the body streams once
	return nil
}

// seedSignature is the Signature= value of an Authorization header the
// signer made.
func seedSignature(auth string) string {
	const key = "Signature="
	if i := strings.LastIndex(auth, key); i >= 0 {
		return auth[i+len(key):]
	}
	return ""
}

func maxChunk(maxSignedBody int64) int {
	if maxSignedBody > 0 && maxSignedBody < MaxChunkSize {
		return int(maxSignedBody)
	}
	return MaxChunkSize
}

// payloadHash returns the hash to sign. What the client states about its
// body is kept as it sent it: UNSIGNED-PAYLOAD and the STREAMING-* values
// byte for byte (S3 refuses them in any other case), and a hex SHA-256 in
// lowercase, the form SigV4 defines and AWS compares against (sent and
// signed alike). AWS checks the body against what was stated, so an
// unsigned or client-hashed body streams; a chunk-signed body streams
// chunk by chunk, re-signed (see chunkResigner). Otherwise the body is read
// into memory, up to max bytes, hashed, and replayed.
func (s *sigv4Step) payloadHash(req *http.Request, max int64) (string, error) {
	if v := headerValue(req.Header, headerContentSHA); v != "" {
		switch {
		case len(v) == 64 && isHex(v):
			return strings.ToLower(v), nil
		case v == unsignedPayload, v == streamingUnsignedTrailer:
			return v, nil
		case v == streamingSigned, v == streamingSignedTrailer:
			if req.Body == nil || req.Body == http.NoBody {
				return "", fmt.Errorf("%w: X-Amz-Content-Sha256 %s needs an aws-chunked body", ErrBadRequest, v)
			}
			return v, nil
		}
		return "", fmt.Errorf("%w: X-Amz-Content-Sha256 must be a hex SHA-256, %s, %s, %s or %s (SigV4a is not supported)",
			ErrBadRequest, unsignedPayload, streamingUnsignedTrailer, streamingSigned, streamingSignedTrailer)
	}
	if s.unsigned {
		return unsignedPayload, nil
	}
	if req.Body == nil || req.Body == http.NoBody || req.ContentLength == 0 {
		return emptyPayloadHash, nil
	}
	if req.ContentLength > max {
		return "", ErrBodyTooLarge
	}
	// Size the buffer from Content-Length when it is known, so a body is
	// read into one allocation instead of a doubling series.
	var buf bytes.Buffer
	if req.ContentLength > 0 {
		// Up to a point: a Content-Length alone must not reserve
		// max_signed_body on every connection before a byte arrives.
		buf.Grow(int(min(req.ContentLength, maxUpfrontBody)) + bytes.MinRead)
	}
	h := sha256.New()
	_, err := buf.ReadFrom(io.TeeReader(io.LimitReader(req.Body, max+1), h))
	_ = req.Body.Close()
	if err != nil {
		return "", fmt.Errorf("%w: reading the body: %v", ErrBadRequest, err)
	}
	if int64(buf.Len()) > max {
		return "", ErrBodyTooLarge
	}
	body := buf.Bytes()
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	req.ContentLength = int64(len(body))
	return hex.EncodeToString(h.Sum(nil)), nil
}

func headerValue(h http.Header, name string) string {
	for k, vs := range h {
		if strings.EqualFold(k, name) && len(vs) > 0 {
			return strings.TrimSpace(vs[0])
		}
	}
	return ""
}

func deleteHeader(h http.Header, name string) {
	for k := range h {
		if strings.EqualFold(k, name) {
			delete(h, k)
		}
	}
}

func hasAny(q map[string][]string, keys []string) bool {
	for _, k := range keys {
		if _, ok := q[k]; ok {
			return true
		}
	}
	return false
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}

func awsName(s string) bool {
	for _, c := range s {
		if !(c == '-' || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
			return false
		}
	}
	return s != ""
}
