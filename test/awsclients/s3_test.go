package awsclients

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"hash/crc32"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/alter-sidecar/alter/internal/testbin"
)

const (
	bucket     = "alter-test-bucket"
	storedKey  = "AKIDALTERSTORED01" // the stored access key id: the stand-in knows only it
	clientKey  = "AKIDCLIENTDUMMY01" // what the applications hold
	clientSec  = "client-dummy-secret"
	uploadSize = 30 << 20
)

// s3Names are the host names the clients use; all are pinned to the
// stand-in, and the grant allows them.
var s3Names = []string{"s3.amazonaws.com", "s3.us-east-1.amazonaws.com", bucket + ".s3.amazonaws.com", bucket + ".s3.us-east-1.amazonaws.com"}

// need skips the test when a tool is missing, or fails it in CI.
func need(t *testing.T, what string, err error) {
	t.Helper()
	testbin.Need(t, what, err)
}

// standInPython is Debian's python3, which has Debian's botocore (the
// stand-in's signer) and boto3; PATH may lead to another Python.
const standInPython = "/usr/bin/python3"

func havePythonModule(module string) error {
	out, err := exec.Command(standInPython, "-c", "import "+module).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s -c 'import %s': %v: %s", standInPython, module, err, bytes.TrimSpace(out))
	}
	return nil
}

// env is a running stand-in and proxy with one aws_sigv4 grant.
type env struct {
	t                *testing.T
	dir, home, repo  string
	secret           string // the stored secret access key
	grant            string
	proxyURL, caFile string
	standIn          string // the stand-in's address
	standInCA        *x509.CertPool
	standInCAPath    string
	proxyPID         int
	stderr, standOut *testbin.SyncBuffer
	outputs          []string // everything the clients printed
}

func start(t *testing.T) *env {
	t.Helper()
	need(t, "Debian's python3-botocore (the S3 stand-in's signer)", havePythonModule("botocore"))
	repo, _ := filepath.Abs("../..")
	dir := t.TempDir()
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	e := &env{t: t, dir: dir, home: filepath.Join(dir, "home"), repo: repo, secret: "SnTlAWS" + hex.EncodeToString(b),
		stderr: &testbin.SyncBuffer{}, standOut: &testbin.SyncBuffer{}}
	e.alter("", "init")
	e.startStandIn()
	e.grant = strings.TrimSpace(e.alter("access_key_id="+storedKey+"\nsecret_access_key="+e.secret+"\n",
		"secret", "add", "--type", "aws_sigv4", "--name", "s3",
		"--allow-host", "s3.amazonaws.com", "--allow-host", "s3.us-east-1.amazonaws.com",
		"--allow-host", "*.s3.amazonaws.com", "--allow-host", "*.s3.us-east-1.amazonaws.com"))
	e.caFile = filepath.Join(dir, "alter-ca.pem")
	if err := os.WriteFile(e.caFile, []byte(e.alter("", "ca", "export")), 0o644); err != nil {
		t.Fatal(err)
	}
	e.startProxy()
	t.Cleanup(e.checkNoLeak)
	return e
}

// alter runs the CLI against the test home and returns its stdout.
func (e *env) alter(stdin string, args ...string) string {
	e.t.Helper()
	cmd := exec.Command(alterBin, append([]string{"--home", e.home}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		e.t.Fatalf("alter %v: %v: %s", args, err, errOut.String())
	}
	return out.String()
}

// writeStandInCert makes a CA and a certificate for every S3 name the
// clients use (wildcards included), as PEM files for the stand-in.
func (e *env) writeStandInCert() (caPath, certPath, keyPath string) {
	t := e.t
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey, leafKey := newKey(), newKey()
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "S3 stand-in CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "s3.amazonaws.com"},
		DNSNames:  []string{"s3.amazonaws.com", "*.s3.amazonaws.com", "s3.us-east-1.amazonaws.com", "*.s3.us-east-1.amazonaws.com"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, caCert, &leafKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(leafKey)
	e.standInCA = x509.NewCertPool()
	e.standInCA.AddCert(caCert)
	caPath, certPath, keyPath = filepath.Join(e.dir, "s3-ca.pem"), filepath.Join(e.dir, "s3.pem"), filepath.Join(e.dir, "s3-key.pem")
	for path, block := range map[string]*pem.Block{caPath: {Type: "CERTIFICATE", Bytes: caDER},
		certPath: {Type: "CERTIFICATE", Bytes: leafDER}, keyPath: {Type: "EC PRIVATE KEY", Bytes: keyDER}} {
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return caPath, certPath, keyPath
}

// waitListening waits for a process's "listening on ADDR" line.
func waitListening(t *testing.T, what string, out *testbin.SyncBuffer, exited <-chan struct{}) string {
	t.Helper()
	m, err := out.WaitFor(testbin.ListeningRE, exited)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return m[1]
}

// run starts a long-running child that is interrupted when the test ends.
func (e *env) run(cmd *exec.Cmd) <-chan struct{} {
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	e.t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	return exited
}

func (e *env) startStandIn() {
	var certPath, keyPath string
	e.standInCAPath, certPath, keyPath = e.writeStandInCert()
	secretFile := filepath.Join(e.dir, "stand-in-secret")
	if err := os.WriteFile(secretFile, []byte(e.secret), 0o600); err != nil {
		e.t.Fatal(err)
	}
	cmd := exec.Command(standInPython, "testdata/s3standin.py", "--cert", certPath, "--key", keyPath,
		"--dir", e.dir, "--access-key", storedKey, "--secret-file", secretFile)
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	cmd.Stdout, cmd.Stderr = e.standOut, e.standOut
	e.standIn = waitListening(e.t, "the S3 stand-in", e.standOut, e.run(cmd))
}

func (e *env) startProxy() {
	var pins []string
	for _, n := range s3Names {
		pins = append(pins, fmt.Sprintf("    %q: %q", n+":443", e.standIn))
	}
	cfg := fmt.Sprintf("version: 1\nlisten: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\n"+
		"store: {path: %q, key_file: %q}\nmitm: {ca_cert: %q, ca_key: %q}\n"+
		"upstream:\n  ca_file: %q\n  resolve:\n%s\naudit: {path: %q}\nlog: {level: debug}\n",
		e.home+"/grants.json", e.home+"/master.key", e.home+"/ca.pem", e.home+"/ca-key.pem",
		e.standInCAPath, strings.Join(pins, "\n"), filepath.Join(e.dir, "audit.log"))
	cfgPath := filepath.Join(e.dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		e.t.Fatal(err)
	}
	cmd := exec.Command(alterBin, "--home", e.home, "proxy", "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = io.Discard, e.stderr
	exited := e.run(cmd)
	e.proxyPID = cmd.Process.Pid
	e.proxyURL = "http://" + waitListening(e.t, "alter proxy", e.stderr, exited)
}

// clientEnv is what an application gets: the proxy, alter's CA, dummy keys
// and the grant; inherited AWS and proxy settings are dropped.
func (e *env) clientEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch uk := strings.ToUpper(k); {
		case strings.HasPrefix(uk, "AWS_"), strings.HasSuffix(uk, "_PROXY"), strings.HasPrefix(uk, "ALTER_"),
			uk == "NODE_EXTRA_CA_CERTS", uk == "NODE_OPTIONS", uk == "HOME":
			continue
		}
		out = append(out, kv)
	}
	home := filepath.Join(e.dir, "client-home")
	_ = os.MkdirAll(home, 0o700)
	awsConfig := filepath.Join(e.dir, "aws-config")
	_ = os.WriteFile(awsConfig, []byte("[default]\nregion = us-east-1\n\n[plugins]\ncli_legacy_plugin_path = "+
		filepath.Join(e.repo, "test/awsclients/testdata/awscli-plugin")+"\nalter_grant = alter_grant\n"), 0o600)
	return append(out, "HOME="+home, "HTTPS_PROXY="+e.proxyURL, "https_proxy="+e.proxyURL, "NO_PROXY=", "no_proxy=",
		"AWS_CA_BUNDLE="+e.caFile, "NODE_EXTRA_CA_CERTS="+e.caFile, "AWS_ACCESS_KEY_ID="+clientKey, "AWS_SECRET_ACCESS_KEY="+clientSec,
		"AWS_DEFAULT_REGION=us-east-1", "AWS_REGION=us-east-1", "AWS_CONFIG_FILE="+awsConfig,
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(home, "no-credentials"), "AWS_EC2_METADATA_DISABLED=true",
		"AWS_PAGER=", "ALTER_GRANT="+e.grant, "PYTHONDONTWRITEBYTECODE=1")
}

// client runs one client program and returns how long it took.
func (e *env) client(t *testing.T, dir string, argv ...string) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir, cmd.Env = dir, e.clientEnv()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	began := time.Now()
	err := cmd.Run()
	took := time.Since(began)
	e.outputs = append(e.outputs, out.String())
	if err != nil {
		t.Fatalf("%s: %v\n%s\nstand-in log:\n%s", strings.Join(argv, " "), err, out.String(), e.requestsFor(""))
	}
	return took
}

// logEntry is one line of the stand-in's requests.jsonl.
type logEntry struct {
	Method, Host, Path, Payload, Refused, Reason string
	HeaderSignature                              string `json:"header_signature"`
	Status, Chunks                               int
	SignedChunks                                 int      `json:"signed_chunks"`
	DecodedLength                                int      `json:"decoded_length"`
	Trailers                                     []string `json:"trailers"`
}

func (e *env) entries() []logEntry {
	data, _ := os.ReadFile(filepath.Join(e.dir, "requests.jsonl"))
	var out []logEntry
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if line == "" {
			continue
		}
		var le logEntry
		if err := json.Unmarshal([]byte(line), &le); err != nil {
			le = logEntry{Refused: "unreadable log line", Reason: err.Error()}
		}
		out = append(out, le)
	}
	return out
}

// requestsFor returns the stand-in's log lines whose path holds key.
func (e *env) requestsFor(key string) string {
	var b strings.Builder
	for _, le := range e.entries() {
		if strings.Contains(le.Path, key) {
			fmt.Fprintf(&b, "%+v\n", le)
		}
	}
	return b.String()
}

// uploaded checks the object the stand-in stored under key against want and
// returns the log entries of the requests that carried it.
func (e *env) uploaded(t *testing.T, key string, want []byte) []logEntry {
	t.Helper()
	got, err := os.ReadFile(filepath.Join(e.dir, "objects", bucket, key))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("stored object %s: %v, %d bytes, want the %d uploaded; stand-in log:\n%s", key, err, len(got), len(want), e.requestsFor(key))
	}
	var out []logEntry
	for _, le := range e.entries() {
		if strings.Contains(le.Path, "/"+key) {
			if le.Status >= 300 || le.HeaderSignature != "ok" {
				t.Fatalf("the stand-in refused a request for %s: %+v", key, le)
			}
			out = append(out, le)
		}
	}
	return out
}

// peakRSS is the proxy's peak resident set so far, in MiB.
func (e *env) peakRSS() float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", e.proxyPID))
	if err != nil {
		return -1
	}
	m := regexp.MustCompile(`VmHWM:\s+(\d+) kB`).FindSubmatch(data)
	if m == nil {
		return -1
	}
	kb, _ := strconv.Atoi(string(m[1]))
	return float64(kb) / 1024
}

func (e *env) checkNoLeak() {
	audit, _ := os.ReadFile(filepath.Join(e.dir, "audit.log"))
	places := map[string]string{"proxy stderr": e.stderr.String(), "stand-in output": e.standOut.String(),
		"audit file": string(audit), "client output": strings.Join(e.outputs, "\n")}
	for _, le := range e.entries() {
		places["stand-in log"] += fmt.Sprintf("%+v", le)
	}
	for where, text := range places {
		if strings.Contains(text, e.secret) {
			e.t.Errorf("the stored secret is in the %s", where)
		}
	}
}

func testData(seed uint64) []byte {
	data := make([]byte, uploadSize)
	r := mrand.NewChaCha8([32]byte{byte(seed)})
	_, _ = r.Read(data)
	return data
}

func writeFile(t *testing.T, dir string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, "upload.bin")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestAWSClients(t *testing.T) {
	e := start(t)
	idle := e.peakRSS()
	var durations []string
	defer func() {
		// Every body streams (a chunk-signed one a chunk at a time), so
		// the proxy's memory does not grow with a 30 MiB upload.
		peak := e.peakRSS()
		t.Logf("client run times: %s; proxy peak RSS (VmHWM) %.1f MiB after start, %.1f MiB after the uploads", strings.Join(durations, ", "), idle, peak)
		const limit = uploadSize / 2 >> 20 // MiB
		if peak > idle+limit {
			t.Errorf("the proxy's peak RSS grew by %.1f MiB during the 30 MiB uploads: is a body held in memory?", peak-idle)
		}
	}()

	t.Run("aws s3 cp multipart", func(t *testing.T) {
		_, err := os.Stat("/usr/bin/aws")
		need(t, "Debian's awscli (/usr/bin/aws)", err)
		data := testData(1)
		took := e.client(t, e.dir, "/usr/bin/aws", "s3", "cp", "--no-progress", writeFile(t, t.TempDir(), data), "s3://"+bucket+"/cli-multipart.bin")
		durations = append(durations, fmt.Sprintf("aws s3 cp %s", took.Round(time.Millisecond)))
		reqs := e.uploaded(t, "cli-multipart.bin", data)
		parts := 0
		for _, le := range reqs {
			if le.Method == "PUT" {
				parts++
				if le.Payload != "UNSIGNED-PAYLOAD" {
					t.Errorf("UploadPart reached S3 with X-Amz-Content-Sha256 %q, want UNSIGNED-PAYLOAD as the CLI sent it", le.Payload)
				}
			}
		}
		if parts < 2 {
			t.Fatalf("aws s3 cp of 30 MiB made %d UploadPart requests, want a multipart upload:\n%s", parts, e.requestsFor("cli-multipart"))
		}
	})

	t.Run("boto3 put_object", func(t *testing.T) {
		need(t, "Debian's python3-boto3", havePythonModule("boto3"))
		data := testData(2)
		took := e.client(t, e.dir, standInPython, filepath.Join(e.repo, "test/awsclients/testdata/boto3_put.py"), writeFile(t, t.TempDir(), data), bucket, "boto3-single.bin")
		durations = append(durations, fmt.Sprintf("boto3 put_object %s", took.Round(time.Millisecond)))
		reqs := e.uploaded(t, "boto3-single.bin", data)
		if len(reqs) != 1 || reqs[0].Method != "PUT" || reqs[0].Payload != "UNSIGNED-PAYLOAD" || reqs[0].DecodedLength != uploadSize {
			t.Fatalf("want one PutObject with UNSIGNED-PAYLOAD: %+v", reqs)
		}
	})

	t.Run("AWS JS SDK v3 streamed PutObject", func(t *testing.T) {
		jsDir := filepath.Join(e.repo, "testdata/sigv4")
		_, nodeErr := exec.LookPath("node")
		need(t, "node", nodeErr)
		_, modErr := os.Stat(filepath.Join(jsDir, "node_modules/@aws-sdk/client-s3"))
		need(t, "@aws-sdk/client-s3 (npm ci --prefix testdata/sigv4)", modErr)
		data := testData(3)
		took := e.client(t, jsDir, "node", "s3upload.mjs", writeFile(t, t.TempDir(), data), bucket, "js-stream.bin")
		durations = append(durations, fmt.Sprintf("JS SDK PutObject %s", took.Round(time.Millisecond)))
		reqs := e.uploaded(t, "js-stream.bin", data)
		if len(reqs) != 1 || reqs[0].Payload != "STREAMING-UNSIGNED-PAYLOAD-TRAILER" || len(reqs[0].Trailers) != 1 {
			t.Fatalf("want one aws-chunked PutObject with a trailing checksum: %+v", reqs)
		}
	})

	for _, tc := range []struct {
		name, payload string
		size, chunk   int
		trailer       bool
	}{
		{"chunk-signed PutObject", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", uploadSize, 64 << 10, false},
		{"chunk-signed PutObject with a signed trailer", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", uploadSize, 128 << 10, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := testData(4)[:tc.size]
			key := strings.ReplaceAll(tc.payload, "STREAMING-AWS4-HMAC-SHA256-", "go-") + ".bin"
			began := time.Now()
			resp, body := e.chunkSigned(t, "https://"+bucket+".s3.amazonaws.com/"+key, tc.payload, data, tc.chunk, tc.trailer)
			durations = append(durations, fmt.Sprintf("Go %s %s", tc.payload, time.Since(began).Round(time.Millisecond)))
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s\n%s", resp.StatusCode, body, e.requestsFor(key))
			}
			reqs := e.uploaded(t, key, data)
			wantChunks := (tc.size+tc.chunk-1)/tc.chunk + 1
			if len(reqs) != 1 || reqs[0].Payload != tc.payload || reqs[0].SignedChunks != wantChunks || (len(reqs[0].Trailers) == 1) != tc.trailer {
				t.Fatalf("want one request with %d chunks, each re-signed and verified: %+v", wantChunks, reqs)
			}
		})
	}

	t.Run("the proxy refuses a lowercased payload value", func(t *testing.T) {
		before := len(e.entries())
		req, _ := http.NewRequest("PUT", "https://"+bucket+".s3.amazonaws.com/lower.bin", strings.NewReader("abc"))
		req.Header.Set("X-Alter-Grant", e.grant)
		req.Header.Set("X-Amz-Content-Sha256", "unsigned-payload")
		resp, err := e.proxyClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 || len(e.entries()) != before {
			t.Fatalf("status %d, %d requests reached S3; want 400 and none", resp.StatusCode, len(e.entries())-before)
		}
	})

	// The stand-in is not a rubber stamp: it refuses what S3 refuses.
	t.Run("the stand-in refuses", func(t *testing.T) {
		for _, tc := range []struct {
			name, secret, payload string
			body                  []byte
			want                  string
		}{
			{"a lowercased payload value", e.secret, "unsigned-payload", []byte("abc"), "InvalidArgument"},
			{"a payload hash that does not match", e.secret, strings.Repeat("0", 64), []byte("abc"), "XAmzContentSHA256Mismatch"},
			{"another key's signature", "not-the-secret", "UNSIGNED-PAYLOAD", []byte("abc"), "SignatureDoesNotMatch"},
			{"a client's chunk signature", e.secret, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", dummyChunked([]byte("abc"), 2, ""), "SignatureDoesNotMatch"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if got := e.direct(t, tc.secret, tc.payload, tc.body); got != tc.want {
					t.Fatalf("the stand-in answered %q, want %q", got, tc.want)
				}
			})
		}
	})
}

func (e *env) proxyClient() *http.Client {
	roots := x509.NewCertPool()
	pemData, _ := os.ReadFile(e.caFile)
	roots.AppendCertsFromPEM(pemData)
	proxyURL, _ := url.Parse(e.proxyURL)
	return &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL), TLSClientConfig: &tls.Config{RootCAs: roots}}}
}

// dummyChunked frames data as aws-chunked with chunk signatures made by a
// key nobody else has, and a CRC32 trailer when trailer is set.
func dummyChunked(data []byte, chunk int, trailer string) []byte {
	var b bytes.Buffer
	b.Grow(len(data) + len(data)/chunk*100 + 200)
	dummy := strings.Repeat("d", 64)
	for i := 0; ; i += chunk {
		c := data[min(i, len(data)):min(i+chunk, len(data))]
		fmt.Fprintf(&b, "%x;chunk-signature=%s\r\n", len(c), dummy)
		if len(c) == 0 {
			break
		}
		b.Write(c)
		b.WriteString("\r\n")
	}
	if trailer == "" {
		b.WriteString("\r\n")
	} else {
		fmt.Fprintf(&b, "%s\r\nx-amz-trailer-signature:%s\r\n\r\n", trailer, dummy)
	}
	return b.Bytes()
}

func crc32Trailer(data []byte) string {
	var sum [4]byte
	v := crc32.ChecksumIEEE(data)
	sum[0], sum[1], sum[2], sum[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
	return "x-amz-checksum-crc32:" + base64.StdEncoding.EncodeToString(sum[:])
}

// chunkSigned sends a chunk-signed PutObject through the proxy as an SDK
// with its own (dummy) key would.
func (e *env) chunkSigned(t *testing.T, rawURL, payload string, data []byte, chunk int, trailer bool) (*http.Response, string) {
	t.Helper()
	tr := ""
	if trailer {
		tr = crc32Trailer(data)
	}
	body := dummyChunked(data, chunk, tr)
	req, _ := http.NewRequest("PUT", rawURL, bytes.NewReader(body))
	req.Header.Set("X-Alter-Grant", e.grant)
	req.Header.Set("X-Amz-Content-Sha256", payload)
	req.Header.Set("Content-Encoding", "aws-chunked")
	req.Header.Set("X-Amz-Decoded-Content-Length", strconv.Itoa(len(data)))
	if trailer {
		req.Header.Set("X-Amz-Trailer", "x-amz-checksum-crc32")
	}
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+clientKey+"/20240101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature="+strings.Repeat("d", 64))
	resp, err := e.proxyClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	e.outputs = append(e.outputs, string(out))
	return resp, string(out)
}

var s3Code = regexp.MustCompile(`<Code>([^<]+)</Code>`)

// direct signs a PutObject with secret and sends it straight to the
// stand-in, bypassing the proxy; it returns the S3 error code ("" for 200).
func (e *env) direct(t *testing.T, secret, payload string, body []byte) string {
	t.Helper()
	host := bucket + ".s3.amazonaws.com"
	req, _ := http.NewRequest("PUT", "https://"+host+"/direct.bin", bytes.NewReader(body))
	req.Header.Set("X-Amz-Content-Sha256", payload)
	if strings.HasPrefix(payload, "STREAMING-") {
		req.Header.Set("Content-Encoding", "aws-chunked")
		req.Header.Set("X-Amz-Decoded-Content-Length", "3")
	}
	err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: storedKey, SecretAccessKey: secret}, req, payload, "s3", "us-east-1", time.Now(),
		func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: e.standInCA, ServerName: host},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, e.standIn)
		}}}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if m := s3Code.FindSubmatch(out); m != nil {
		return string(m[1])
	}
	return ""
}
