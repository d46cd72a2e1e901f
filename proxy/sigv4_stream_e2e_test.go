package proxy

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/alter-sidecar/alter/inject"
)

// S3 uploads as SDKs send them: the payload value the client chose reaches
// S3 as sent, and chunk-signed bodies are re-signed chunk by chunk.

const s3Host = "s3.us-east-1.amazonaws.com"

// clientChunkSig is the signature the client put on every chunk; it must
// never reach the upstream.
var clientChunkSig = strings.Repeat("c1", 32)

// chunkedBody frames chunks as aws-chunked with the client's signatures.
func chunkedBody(chunks ...[]byte) []byte {
	var b bytes.Buffer
	for _, c := range append(chunks, nil) {
		fmt.Fprintf(&b, "%x;chunk-signature=%s\r\n%s\r\n", len(c), clientChunkSig, c)
	}
	return b.Bytes()
}

// received is what an upstream got: the request and its body as read
// (with the read error, if the body broke off).
type received struct {
	header  http.Header
	body    []byte
	readErr error
}

type recorder struct {
	mu   sync.Mutex
	reqs []received
}

func (rc *recorder) handler(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.reqs = append(rc.reqs, received{r.Header.Clone(), body, err})
	rc.mu.Unlock()
	if err != nil {
		// As S3 answers a body that ends early.
		http.Error(w, "IncompleteBody", http.StatusBadRequest)
		return
	}
	w.Header().Set("ETag", `"etag"`)
}

func (rc *recorder) last(t *testing.T) received {
	t.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.reqs) == 0 {
		t.Fatal("the upstream got no request")
	}
	return rc.reqs[len(rc.reqs)-1]
}

func s3Env(t *testing.T) (*env, *recorder) {
	rc := &recorder{}
	e := newEnv(t)
	e.tlsUpstream(s3Host, http.HandlerFunc(rc.handler))
	e.addGrant(grantA, inject.Spec{Type: inject.TypeAWSSigV4}, inject.Fields{"access_key_id": awsKeyID, "secret_access_key": awsSecret}, s3Host)
	return e, rc
}

func putS3(t *testing.T, e *env, header http.Header, body []byte) *http.Response {
	t.Helper()
	resp, out := sendGrant(t, e, "PUT", "https://"+s3Host+"/bucket/key", header, body)
	e.assertNoLeak(string(out), "response body")
	return resp
}

func TestSigV4ClientPayloadValueKept(t *testing.T) {
	for _, value := range []string{"UNSIGNED-PAYLOAD", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"} {
		t.Run(value, func(t *testing.T) {
			e, rc := s3Env(t)
			body := []byte("3\r\nfoo\r\n0\r\nx-amz-checksum-crc32:jHNlIQ==\r\n\r\n")
			resp := putS3(t, e, http.Header{"X-Amz-Content-Sha256": {value}, "Content-Encoding": {"aws-chunked"}, "X-Amz-Decoded-Content-Length": {"3"}}, body)
			got := rc.last(t)
			if resp.StatusCode != 200 || got.header.Get("X-Amz-Content-Sha256") != value || !bytes.Equal(got.body, body) {
				t.Fatalf("status %d; upstream got %q and body %q, want %q and the body unchanged", resp.StatusCode, got.header.Values("X-Amz-Content-Sha256"), got.body, value)
			}
			e.checkLogsAndAudit()
		})
	}
}

// verifyChunkChain checks every chunk signature of an aws-chunked body with
// the SDK's StreamSigner, seeded with the request's header signature, and
// returns the decoded data.
func verifyChunkChain(h http.Header, body []byte) ([]byte, error) {
	seedHex := h.Get("Authorization")[strings.LastIndex(h.Get("Authorization"), "Signature=")+len("Signature="):]
	seed, _ := hex.DecodeString(seedHex)
	when, err := time.Parse("20060102T150405Z", h.Get("X-Amz-Date"))
	if err != nil {
		return nil, err
	}
	ss := v4.NewStreamSigner(aws.Credentials{AccessKeyID: awsKeyID, SecretAccessKey: awsSecret}, "s3", "us-east-1", seed)
	var data []byte
	for rest := body; ; {
		line, after, ok := bytes.Cut(rest, []byte("\r\n"))
		var n int
		var sig string
		if _, err := fmt.Sscanf(strings.Replace(string(line), ";chunk-signature=", " ", 1), "%x %s", &n, &sig); !ok || err != nil || len(after) < n+2 {
			return data, fmt.Errorf("bad chunk at byte %d", len(body)-len(rest))
		}
		want, _ := ss.GetSignature(context.Background(), nil, after[:n], when)
		if sig != hex.EncodeToString(want) {
			return data, fmt.Errorf("chunk signature %s, want %x", sig, want)
		}
		data = append(data, after[:n]...)
		if rest = after[n+2:]; n == 0 {
			if len(rest) != 0 {
				return data, errors.New("data after the final chunk")
			}
			return data, nil
		}
	}
}

func TestSigV4ChunkSignedUpload(t *testing.T) {
	e, rc := s3Env(t)
	data := bytes.Repeat([]byte("0123456789abcdef"), 3<<16) // 3 MiB in 64 KiB chunks
	var chunks [][]byte
	for i := 0; i < len(data); i += 64 << 10 {
		chunks = append(chunks, data[i:i+64<<10])
	}
	body := chunkedBody(chunks...)
	resp := putS3(t, e, http.Header{"X-Amz-Content-Sha256": {"STREAMING-AWS4-HMAC-SHA256-PAYLOAD"}, "Content-Encoding": {"aws-chunked"},
		"X-Amz-Decoded-Content-Length": {fmt.Sprint(len(data))},
		"Authorization":                {"AWS4-HMAC-SHA256 Credential=DUMMY/20200101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=" + clientChunkSig}}, body)
	got := rc.last(t)
	if resp.StatusCode != 200 || got.readErr != nil {
		t.Fatalf("status %d, upstream read: %v", resp.StatusCode, got.readErr)
	}
	if len(got.body) != len(body) || bytes.Contains(got.body, []byte(clientChunkSig)) {
		t.Fatalf("upstream body: %d bytes (sent %d), client signature present: %v", len(got.body), len(body), bytes.Contains(got.body, []byte(clientChunkSig)))
	}
	decoded, err := verifyChunkChain(got.header, got.body)
	if err != nil || !bytes.Equal(decoded, data) {
		t.Fatalf("chunk chain: %v (decoded %d bytes of %d)", err, len(decoded), len(data))
	}
	e.checkLogsAndAudit()
}

// TestSigV4ChunkSignedMalformed: a chunk the proxy cannot parse ends the
// upstream body early (so the upstream never takes the upload), nothing of
// the client's signatures goes out, and the client is told it sent a bad
// request.
func TestSigV4ChunkSignedMalformed(t *testing.T) {
	good := chunkedBody(bytes.Repeat([]byte("a"), 1000))
	first := good[:bytes.Index(good, []byte("\r\n0;"))+2]
	tests := []struct {
		name string
		body []byte
	}{
		{"second chunk without signature", append(append([]byte{}, first...), "3\r\nabc\r\n0\r\n\r\n"...)},
		{"size not hex", append(append([]byte{}, first...), "xyz;chunk-signature="+clientChunkSig+"\r\n"...)},
		{"bare LF", append(append([]byte{}, first...), "3;chunk-signature="+clientChunkSig+"\nabc\r\n"...)},
		{"chunk over the limit", []byte("900000;chunk-signature=" + clientChunkSig + "\r\n" + strings.Repeat("a", 100))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, rc := s3Env(t)
			resp := putS3(t, e, http.Header{"X-Amz-Content-Sha256": {"STREAMING-AWS4-HMAC-SHA256-PAYLOAD"}, "Content-Encoding": {"aws-chunked"}}, tt.body)
			if resp.StatusCode != 400 {
				t.Fatalf("status %d, want 400 (from the proxy, or from the upstream that saw the body end early)", resp.StatusCode)
			}
			// The upstream may have seen the request start; if so, its body
			// broke off and held no client signature.
			rc.mu.Lock()
			defer rc.mu.Unlock()
			for _, got := range rc.reqs {
				if got.readErr == nil {
					t.Fatalf("the upstream read a whole body: %q", got.body)
				}
				if bytes.Contains(got.body, []byte(clientChunkSig)) {
					t.Fatal("a client chunk signature reached the upstream")
				}
			}
			e.checkLogsAndAudit()
		})
	}
}
