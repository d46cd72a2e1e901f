package proxy

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alter-sidecar/alter/inject"
)

// The SigV4 tests check our signatures with the AWS JavaScript SDK's signer
// (testdata/sigv4/verify.mjs), an implementation we share no code with.
// .ci/run installs it with npm.

const (
	awsKeyID  = "AKIDSENTINELPROXY01"
	awsSecret = sentinel + "-aws-secret"
	awsToken  = sentinel + "-session"
)

func verifierDir(t *testing.T) string {
	t.Helper()
	dir, _ := filepath.Abs(filepath.Join("..", "testdata", "sigv4"))
	_, nodeErr := exec.LookPath("node")
	_, modErr := os.Stat(filepath.Join(dir, "node_modules", "@smithy", "signature-v4"))
	if nodeErr != nil || modErr != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("the independent SigV4 verifier is missing (node: %v, modules: %v); .ci/run installs it", nodeErr, modErr)
		}
		t.Skip("independent SigV4 verifier not installed: run npm ci --prefix testdata/sigv4")
	}
	return dir
}

type verdict struct {
	OK       bool   `json:"ok"`
	Error    string `json:"error"`
	Provided string `json:"provided"`
	Expected string `json:"expected"`
	Signed   string `json:"signed_headers"`
	Region   string `json:"region"`
	Service  string `json:"service"`
}

// verifyingUpstream answers every request with the verifier's verdict on
// its signature, computed from the request exactly as received.
func verifyingUpstream(t *testing.T, dir, secret, token string, tamper func(*http.Request)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if tamper != nil {
			tamper(r)
		}
		in, _ := json.Marshal(map[string]any{
			"method": r.Method, "host": r.Host, "path": r.URL.EscapedPath(), "query": r.URL.RawQuery,
			"headers": r.Header, "body_b64": base64.StdEncoding.EncodeToString(body),
			"access_key_id": awsKeyID, "secret_access_key": secret, "session_token": token,
		})
		cmd := exec.Command("node", filepath.Join(dir, "verify.mjs"))
		cmd.Dir = dir
		cmd.Stdin = bytes.NewReader(in)
		out, err := cmd.Output()
		if err != nil {
			http.Error(w, "verifier failed: "+err.Error(), 500)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(out)
	})
}

func TestSigV4VerifiedIndependently(t *testing.T) {
	dir := verifierDir(t)
	tests := []struct {
		name    string
		spec    inject.Spec
		session bool
		method  string
		url     string
		host    string // the upstream to stand in for
		header  http.Header
		body    string
		region  string
		service string
	}{
		{name: "s3 virtual-hosted GET with query", spec: inject.Spec{Type: inject.TypeAWSSigV4}, method: "GET",
			url: "https://my-bucket.s3.us-west-2.amazonaws.com/dir/key%20with%20space.txt?list-type=2&prefix=a%2Fb", host: "my-bucket.s3.us-west-2.amazonaws.com",
			region: "us-west-2", service: "s3"},
		{name: "sqs POST with a hashed body", spec: inject.Spec{Type: inject.TypeAWSSigV4}, method: "POST",
			url: "https://sqs.eu-west-1.amazonaws.com/", host: "sqs.eu-west-1.amazonaws.com",
			header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, body: "Action=ListQueues&Version=2012-11-05",
			region: "eu-west-1", service: "sqs"},
		{name: "session token", spec: inject.Spec{Type: inject.TypeAWSSigV4}, session: true, method: "GET",
			url: "https://sts.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15", host: "sts.amazonaws.com",
			region: "us-east-1", service: "sts"},
		{name: "bedrock runtime with a JSON body", spec: inject.Spec{Type: inject.TypeAWSSigV4}, method: "POST",
			url: "https://bedrock-runtime.us-west-2.amazonaws.com/model/anthropic.claude-v2/invoke", host: "bedrock-runtime.us-west-2.amazonaws.com",
			header: http.Header{"Content-Type": {"application/json"}}, body: `{"prompt":"hi"}`, region: "us-west-2", service: "bedrock"},
		{name: "client-sent payload hash streams", spec: inject.Spec{Type: inject.TypeAWSSigV4}, method: "PUT",
			url: "https://s3.us-east-1.amazonaws.com/bucket/obj", host: "s3.us-east-1.amazonaws.com",
			header: http.Header{"X-Amz-Content-Sha256": {"2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"}}, body: "foo",
			region: "us-east-1", service: "s3"},
		{name: "client's UNSIGNED-PAYLOAD kept", spec: inject.Spec{Type: inject.TypeAWSSigV4}, method: "PUT",
			url: "https://s3.us-east-1.amazonaws.com/bucket/obj", host: "s3.us-east-1.amazonaws.com",
			header: http.Header{"X-Amz-Content-Sha256": {"UNSIGNED-PAYLOAD"}}, body: "foo", region: "us-east-1", service: "s3"},
		{name: "chunk-signed upload", spec: inject.Spec{Type: inject.TypeAWSSigV4}, method: "PUT",
			url: "https://s3.us-east-1.amazonaws.com/bucket/obj", host: "s3.us-east-1.amazonaws.com",
			header: http.Header{"X-Amz-Content-Sha256": {"STREAMING-AWS4-HMAC-SHA256-PAYLOAD"}, "Content-Encoding": {"aws-chunked"}, "X-Amz-Decoded-Content-Length": {"3"}},
			body:   string(chunkedBody([]byte("foo"))), region: "us-east-1", service: "s3"},
		{name: "unsigned payload grant", spec: inject.Spec{Type: inject.TypeAWSSigV4, UnsignedPayload: true}, method: "PUT",
			url: "https://s3.us-east-1.amazonaws.com/bucket/big", host: "s3.us-east-1.amazonaws.com", body: strings.Repeat("x", 1<<20),
			region: "us-east-1", service: "s3"},
		{name: "custom endpoint with stored region and service", spec: inject.Spec{Type: inject.TypeAWSSigV4, Region: "auto", Service: "s3"}, method: "GET",
			url: "https://storage.example.test/bucket/key", host: "storage.example.test", region: "auto", service: "s3"},
		{name: "client signature headers are replaced", spec: inject.Spec{Type: inject.TypeAWSSigV4}, method: "GET",
			url: "https://sqs.eu-west-1.amazonaws.com/?X-Amz-Signature=forged&Action=ListQueues", host: "sqs.eu-west-1.amazonaws.com",
			header: http.Header{"Authorization": {"AWS4-HMAC-SHA256 Credential=EVIL/20200101/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=" + strings.Repeat("0", 64)},
				"X-Amz-Date": {"20200101T000000Z"}, "X-Amz-Security-Token": {"forged"}},
			region: "eu-west-1", service: "sqs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token := ""
			fields := inject.Fields{"access_key_id": awsKeyID, "secret_access_key": awsSecret}
			if tt.session {
				token = awsToken
				fields["session_token"] = awsToken
			}
			e := newEnv(t)
			e.tlsUpstream(tt.host, verifyingUpstream(t, dir, awsSecret, token, nil))
			e.addGrant(grantA, tt.spec, fields, tt.host)
			v := sendSigned(t, e, tt.method, tt.url, tt.header, tt.body)
			if !v.OK || v.Region != tt.region || v.Service != tt.service {
				t.Fatalf("the independent verifier rejected our signature: %+v", v)
			}
			if tt.session && !strings.Contains(v.Signed, "x-amz-security-token") {
				t.Fatalf("session token not signed: %s", v.Signed)
			}
			e.checkLogsAndAudit()
		})
	}
}

// TestSigV4VerifierCanFail proves the verifier is not a rubber stamp: a
// header changed after signing, or the wrong secret, is rejected.
func TestSigV4VerifierCanFail(t *testing.T) {
	dir := verifierDir(t)
	for name, tc := range map[string]struct {
		secret string
		tamper func(*http.Request)
	}{
		"wrong secret":             {secret: "not-the-secret"},
		"header changed after sig": {secret: awsSecret, tamper: func(r *http.Request) { r.Header.Set("X-Amz-Date", "20300101T000000Z") }},
		"path changed after sig":   {secret: awsSecret, tamper: func(r *http.Request) { r.URL.Path, r.URL.RawPath = "/other", "" }},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			e.tlsUpstream("sqs.eu-west-1.amazonaws.com", verifyingUpstream(t, dir, tc.secret, "", tc.tamper))
			e.addGrant(grantA, inject.Spec{Type: inject.TypeAWSSigV4}, inject.Fields{"access_key_id": awsKeyID, "secret_access_key": awsSecret}, "sqs.eu-west-1.amazonaws.com")
			if v := sendSigned(t, e, "GET", "https://sqs.eu-west-1.amazonaws.com/?Action=ListQueues", nil, ""); v.OK {
				t.Fatalf("verifier accepted a bad signature: %+v", v)
			}
		})
	}
}

func sendSigned(t *testing.T, e *env, method, url string, header http.Header, body string) verdict {
	t.Helper()
	resp, out := sendGrant(t, e, method, url, header, []byte(body))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, out)
	}
	var v verdict
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("verifier output %s", out)
	}
	return v
}

// sendGrant sends a request with grantA's marker and the given headers
// through the proxy and returns the response and its body.
func sendGrant(t *testing.T, e *env, method, url string, header http.Header, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, bytes.NewReader(body))
	if len(body) == 0 {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	req.Header.Set("X-Alter-Grant", grantA)
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := e.client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp, out
}

func TestSigV4BodyLimits(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.MaxSignedBody = 1024 })
	up := e.tlsUpstream("sqs.eu-west-1.amazonaws.com", nil)
	e.addGrant(grantA, inject.Spec{Type: inject.TypeAWSSigV4}, inject.Fields{"access_key_id": awsKeyID, "secret_access_key": awsSecret}, "sqs.eu-west-1.amazonaws.com")
	for name, tc := range map[string]struct {
		body    string
		chunked bool
		status  int
	}{
		"at the limit":                 {body: strings.Repeat("a", 1024), status: 200},
		"over the limit":               {body: strings.Repeat("a", 1025), status: 413},
		"over the limit, length known": {body: strings.Repeat("a", 5000), status: 413},
		"chunked over the limit":       {body: strings.Repeat("a", 5000), chunked: true, status: 413},
	} {
		t.Run(name, func(t *testing.T) {
			before := up.hits.Load()
			req, _ := http.NewRequest("POST", "https://sqs.eu-west-1.amazonaws.com/", strings.NewReader(tc.body))
			if tc.chunked {
				req.ContentLength = -1
				req.Body = io.NopCloser(strings.NewReader(tc.body))
			}
			req.Header.Set("X-Alter-Grant", grantA)
			resp, err := e.client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			out, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, out)
			}
			if tc.status == 413 && (up.hits.Load() != before || resp.Header.Get(HeaderError) != CodeTooLarge) {
				t.Fatalf("a body over the limit reached the upstream or got %q", resp.Header.Get(HeaderError))
			}
		})
	}
	t.Run("bad client payload hash", func(t *testing.T) {
		req, _ := http.NewRequest("GET", "https://sqs.eu-west-1.amazonaws.com/", nil)
		req.Header.Set("X-Alter-Grant", grantA)
		req.Header.Set("X-Amz-Content-Sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
		resp, err := e.client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
}
