package inject

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestSigV4PayloadValue: what the client states in X-Amz-Content-Sha256 is
// what goes upstream and what is signed.
func TestSigV4PayloadValue(t *testing.T) {
	hexSum := "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae" // sha256("foo")
	tests := []struct {
		name, sent string
		body       string
		want       string // the header upstream; "" when refused
	}{
		{"unsigned payload kept", "UNSIGNED-PAYLOAD", "foo", "UNSIGNED-PAYLOAD"},
		{"streaming unsigned trailer kept", streamingUnsignedTrailer, "3\r\nfoo\r\n0\r\nx-amz-checksum-crc32:jHNlIQ==\r\n\r\n", streamingUnsignedTrailer},
		{"lowercase hex kept", hexSum, "foo", hexSum},
		{"uppercase hex sent and signed in lowercase", strings.ToUpper(hexSum), "foo", hexSum},
		{"spaces around the value", "  UNSIGNED-PAYLOAD ", "foo", "UNSIGNED-PAYLOAD"},
		{"lowercased sentinel refused", "unsigned-payload", "foo", ""},
		{"mixed-case sentinel refused", "Unsigned-Payload", "foo", ""},
		{"lowercased streaming value refused", strings.ToLower(streamingSigned), "foo", ""},
		{"SigV4a streaming refused", "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD", "foo", ""},
		{"short hex refused", hexSum[:63], "foo", ""},
		{"chunk-signed without a body refused", streamingSigned, "", ""},
	}
	in, err := Compile(Spec{Type: TypeAWSSigV4})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := io.Reader(strings.NewReader(tt.body))
			if tt.body == "" {
				body = nil
			}
			req, _ := http.NewRequest("PUT", "https://bucket.s3.us-east-1.amazonaws.com/key", body)
			lower := strings.ToLower(headerContentSHA) // a client's own spelling, not canonical
			req.Header[lower] = []string{tt.sent}
			sentBody := req.Body
			err := in.Apply(req, Fields{"access_key_id": "AKID", "secret_access_key": sentinel}, Env{Now: time.Now(), MaxSignedBody: 1 << 20})
			if tt.want == "" {
				if !errors.Is(err, ErrBadRequest) || strings.Contains(err.Error(), sentinel) {
					t.Fatalf("err = %v, want ErrBadRequest", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := req.Header.Values(headerContentSHA); len(got) != 1 || got[0] != tt.want || len(req.Header[lower]) != 0 {
				t.Fatalf("upstream gets %s %q, want %q once", headerContentSHA, req.Header, tt.want)
			}
			if !strings.Contains(req.Header.Get("Authorization"), "x-amz-content-sha256") {
				t.Fatalf("the payload value is not signed: %s", req.Header.Get("Authorization"))
			}
			if req.Body != sentBody {
				t.Fatal("a body the client hashed or left unsigned was replaced, not streamed")
			}
		})
	}
}

// TestSigV4ChunkSigned: a chunk-signed body is re-signed from the header
// signature, keeps its length, and streams (no GetBody replay).
func TestSigV4ChunkSigned(t *testing.T) {
	for _, trailer := range []bool{false, true} {
		name, value := "payload", streamingSigned
		var trailers []string
		if trailer {
			name, value, trailers = "payload with trailer", streamingSignedTrailer, []string{"x-amz-checksum-crc32:DUoRhQ=="}
		}
		t.Run(name, func(t *testing.T) {
			in, _ := Compile(Spec{Type: TypeAWSSigV4})
			body := clientBody([][]byte{[]byte("hello "), []byte("world"), {}}, trailers)
			req, _ := http.NewRequest("PUT", "https://s3.eu-west-1.amazonaws.com/bucket/key", bytes.NewReader(body))
			req.Header.Set(headerContentSHA, value)
			req.Header.Set("Content-Encoding", "aws-chunked")
			req.Header.Set("X-Amz-Decoded-Content-Length", "11")
			req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=DUMMY/20130524/eu-west-1/s3/aws4_request, SignedHeaders=host, Signature="+strings.Repeat("c", 64))
			if err := in.Apply(req, Fields{"access_key_id": "AKID", "secret_access_key": sentinel}, Env{Now: time.Now(), MaxSignedBody: 1 << 20}); err != nil {
				t.Fatal(err)
			}
			if req.GetBody != nil || req.ContentLength != int64(len(body)) {
				t.Fatalf("GetBody set or Content-Length changed: %v %d", req.GetBody != nil, req.ContentLength)
			}
			out, err := io.ReadAll(req.Body)
			if err != nil {
				t.Fatal(err)
			}
			data, err := verifyChunked(out, sentinel, req.Header.Get("X-Amz-Date"), "eu-west-1", "s3", seedSignature(req.Header.Get("Authorization")), trailer)
			if err != nil || string(data) != "hello world" || len(out) != len(body) {
				t.Fatalf("re-signed body: %v, data %q, %d bytes for %d", err, data, len(out), len(body))
			}
		})
	}
}
