package inject

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// The example in AWS's "Signature Calculations for the Authorization Header:
// Transferring Payload in Multiple Chunks": a 64 KiB chunk and a 1 KiB
// chunk of 'a', then the final chunk.
const (
	exampleSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	exampleDate   = "20130524T000000Z"
	exampleSeed   = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
)

var exampleChunkSigs = []string{
	"ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
	"0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
	"b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
}

func exampleChunks() [][]byte {
	return [][]byte{bytes.Repeat([]byte("a"), 65536), bytes.Repeat([]byte("a"), 1024), {}}
}

func TestChunkSignerAWSExample(t *testing.T) {
	s, err := newChunkSigner(exampleSecret, exampleDate, "us-east-1", "s3", exampleSeed)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range exampleChunks() {
		if got := s.chunk(c); string(got[:]) != exampleChunkSigs[i] {
			t.Fatalf("chunk %d: signature %s, AWS's example has %s", i, got, exampleChunkSigs[i])
		}
	}
}

// TestChunkSignerMatchesStreamSigner checks our chain against the SDK's
// StreamSigner, which computes the same payload-chunk string to sign.
func TestChunkSignerMatchesStreamSigner(t *testing.T) {
	when := time.Date(2024, 2, 29, 23, 59, 58, 0, time.UTC)
	seed := strings.Repeat("0123456789abcdef", 4)
	ours, err := newChunkSigner(sentinel, when.Format(amzDate), "eu-west-3", "s3", seed)
	if err != nil {
		t.Fatal(err)
	}
	seedBytes, _ := hex.DecodeString(seed)
	sdk := v4.NewStreamSigner(aws.Credentials{AccessKeyID: "AKID", SecretAccessKey: sentinel}, "s3", "eu-west-3", seedBytes)
	for i, c := range [][]byte{[]byte("hello"), bytes.Repeat([]byte{0xff}, 70000), nil} {
		want, err := sdk.GetSignature(context.Background(), nil, c, when)
		if err != nil {
			t.Fatal(err)
		}
		if got := ours.chunk(c); string(got[:]) != hex.EncodeToString(want) {
			t.Fatalf("chunk %d: ours %s, StreamSigner %x", i, got, want)
		}
	}
}

const amzDate = "20060102T150405Z"

// clientBody encodes chunks as a client would, signing them with a key of
// its own (the proxy must replace every one of these signatures).
func clientBody(chunks [][]byte, trailers []string) []byte {
	client, _ := newChunkSigner("client-dummy-key", exampleDate, "us-east-1", "s3", strings.Repeat("c", 64))
	var b bytes.Buffer
	for _, c := range chunks {
		sig := client.chunk(c)
		fmt.Fprintf(&b, "%x;chunk-signature=%s\r\n", len(c), sig)
		if len(c) > 0 || trailers == nil {
			b.Write(c)
			b.WriteString("\r\n")
		}
	}
	if trailers != nil {
		var canonical string
		for _, tr := range trailers {
			b.WriteString(tr + "\r\n")
			canonical += tr + "\n"
		}
		sig := client.trailer([]byte(canonical))
		fmt.Fprintf(&b, "%s%s\r\n\r\n", trailerSigPrefix, sig)
	}
	return b.Bytes()
}

var anySig = regexp.MustCompile(`(?:;chunk-signature=|x-amz-trailer-signature:)([0-9a-fA-F]{64})`)

// clientSigs lists the chunk and trailer signatures in a body.
func clientSigs(body []byte) [][]byte {
	var out [][]byte
	for _, m := range anySig.FindAllSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

// errIncomplete: the body ends cleanly after a whole chunk, before the
// final one. That is all a re-signer may have handed out when it stopped.
var errIncomplete = errors.New("the body ends before its final chunk")

// verifyChunked checks an aws-chunked body the proxy produced, as S3 would:
// framing, then every chunk signature with the SDK's StreamSigner and the
// trailer signature from a signing key derived here. It returns the
// decoded data, and errIncomplete for a body that stops between two chunks.
func verifyChunked(body []byte, secret, date, region, service, seed string, trailer bool) ([]byte, error) {
	when, err := time.Parse(amzDate, date)
	if err != nil {
		return nil, err
	}
	seedBytes, _ := hex.DecodeString(seed)
	sdk := v4.NewStreamSigner(aws.Credentials{SecretAccessKey: secret}, service, region, seedBytes)
	prev := seed
	var data []byte
	rest := body
	for {
		if len(rest) == 0 {
			return data, errIncomplete
		}
		line, after, ok := bytes.Cut(rest, []byte("\r\n"))
		if !ok {
			return data, errors.New("no chunk line")
		}
		size, sig, ok := bytes.Cut(line, []byte(";chunk-signature="))
		var n int
		if _, err := fmt.Sscanf(string(size), "%x", &n); !ok || err != nil || len(after) < n {
			return data, fmt.Errorf("bad chunk line %q", line)
		}
		chunk := after[:n]
		want, _ := sdk.GetSignature(context.Background(), nil, chunk, when)
		if string(sig) != hex.EncodeToString(want) {
			return data, fmt.Errorf("chunk signature %s, want %x", sig, want)
		}
		prev = string(sig)
		data = append(data, chunk...)
		rest = after[n:]
		if n == 0 {
			break
		}
		if !bytes.HasPrefix(rest, []byte("\r\n")) {
			return data, errors.New("no CRLF after chunk data")
		}
		rest = rest[2:]
	}
	if !trailer {
		if string(rest) != "\r\n" {
			return data, fmt.Errorf("after the final chunk: %q", rest)
		}
		return data, nil
	}
	i := bytes.Index(rest, []byte(trailerSigPrefix))
	if i < 0 {
		return data, errors.New("no trailer signature")
	}
	canonical := strings.ReplaceAll(string(rest[:i]), "\r\n", "\n")
	key := []byte("AWS4" + secret)
	for _, p := range []string{date[:8], region, service, "aws4_request"} {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(p))
		key = m.Sum(nil)
	}
	sum := sha256.Sum256([]byte(canonical))
	m := hmac.New(sha256.New, key)
	m.Write([]byte(strings.Join([]string{"AWS4-HMAC-SHA256-TRAILER", date, date[:8] + "/" + region + "/" + service + "/aws4_request", prev, hex.EncodeToString(sum[:])}, "\n")))
	if want := trailerSigPrefix + hex.EncodeToString(m.Sum(nil)) + "\r\n\r\n"; string(rest[i:]) != want {
		return data, fmt.Errorf("trailer ends %q, want %q", rest[i:], want)
	}
	return data, nil
}

func resign(body []byte, trailer bool, max int) ([]byte, error) {
	s, err := newChunkSigner(exampleSecret, exampleDate, "us-east-1", "s3", exampleSeed)
	if err != nil {
		return nil, err
	}
	r := newChunkResigner(io.NopCloser(bytes.NewReader(body)), s, trailer, max)
	return io.ReadAll(r)
}

func TestChunkResignerAWSExample(t *testing.T) {
	body := clientBody(exampleChunks(), nil)
	out, err := resign(body, false, MaxChunkSize)
	if err != nil {
		t.Fatal(err)
	}
	if got := clientSigs(out); len(got) != 3 || string(got[0]) != exampleChunkSigs[0] || string(got[1]) != exampleChunkSigs[1] || string(got[2]) != exampleChunkSigs[2] {
		t.Fatalf("re-signed body has signatures %s, want AWS's %s", got, exampleChunkSigs)
	}
	if len(out) != len(body) {
		t.Fatalf("re-signed body is %d bytes, the client's %d: Content-Length would be wrong", len(out), len(body))
	}
}

func TestChunkResigner(t *testing.T) {
	crc := "x-amz-checksum-crc32:sOO8/Q=="
	good := clientBody([][]byte{[]byte("hello "), []byte("world"), {}}, nil)
	goodTrailer := clientBody([][]byte{[]byte("hello "), []byte("world"), {}}, []string{crc})
	sig := strings.Repeat("d", 64)
	tests := []struct {
		name    string
		body    []byte
		trailer bool
		max     int
		ok      bool
		data    string // the decoded data, when ok
	}{
		{name: "chunks", body: good, ok: true, data: "hello world"},
		{name: "only the final chunk", body: clientBody([][]byte{{}}, nil), ok: true},
		{name: "uppercase size hex", body: []byte("B;chunk-signature=" + sig + "\r\nhello world\r\n0;chunk-signature=" + sig + "\r\n\r\n"), ok: true, data: "hello world"},
		{name: "size with leading zeros", body: []byte("000b;chunk-signature=" + sig + "\r\nhello world\r\n0;chunk-signature=" + sig + "\r\n\r\n"), ok: true, data: "hello world"},
		{name: "chunk at the limit", body: clientBody([][]byte{[]byte("12345"), {}}, nil), max: 5, ok: true, data: "12345"},
		{name: "trailer", body: goodTrailer, trailer: true, ok: true, data: "hello world"},
		{name: "two trailers", body: clientBody([][]byte{[]byte("x"), {}}, []string{"x-amz-checksum-sha256:abc=", crc}), trailer: true, ok: true, data: "x"},

		{name: "empty body", body: nil},
		{name: "no final chunk", body: good[:bytes.Index(good, []byte("0;"))]},
		{name: "cut inside data", body: good[:30]},
		{name: "cut inside a signature", body: good[:10]},
		{name: "final chunk without its CRLF", body: good[:len(good)-2]},
		{name: "data after the final chunk", body: append(append([]byte{}, good...), "5;chunk-signature="+sig+"\r\nagain\r\n"...)},
		{name: "chunk over the limit", body: clientBody([][]byte{[]byte("123456"), {}}, nil), max: 5},
		{name: "size not hex", body: []byte("5g;chunk-signature=" + sig + "\r\nhello\r\n")},
		{name: "negative size", body: []byte("-5;chunk-signature=" + sig + "\r\nhello\r\n")},
		{name: "size too long", body: []byte("000000005;chunk-signature=" + sig + "\r\nhello\r\n")},
		{name: "size with space", body: []byte("5 ;chunk-signature=" + sig + "\r\nhello\r\n")},
		{name: "empty size", body: []byte(";chunk-signature=" + sig + "\r\n\r\n")},
		{name: "no signature", body: []byte("5\r\nhello\r\n0\r\n\r\n")},
		{name: "other extension", body: []byte("5;chunk-sig=" + sig + "\r\nhello\r\n")},
		{name: "short signature", body: []byte("5;chunk-signature=" + sig[:63] + "\r\nhello\r\n")},
		{name: "long signature", body: []byte("5;chunk-signature=" + sig + "0\r\nhello\r\n")},
		{name: "uppercase signature", body: []byte("5;chunk-signature=" + strings.ToUpper(strings.Repeat("ab", 32)) + "\r\nhello\r\n")},
		{name: "second extension", body: []byte("5;chunk-signature=" + sig + ";x=1\r\nhello\r\n")},
		{name: "bare LF", body: []byte("5;chunk-signature=" + sig + "\nhello\r\n")},
		{name: "CR inside the line", body: []byte("5;chunk-signature=" + sig + "\r\r\nhello\r\n")},
		{name: "data longer than its size", body: []byte("5;chunk-signature=" + sig + "\r\nhello!\r\n0;chunk-signature=" + sig + "\r\n\r\n")},
		{name: "data shorter than its size", body: []byte("6;chunk-signature=" + sig + "\r\nhello\r\n0;chunk-signature=" + sig + "\r\n\r\n")},
		{name: "long line", body: []byte(strings.Repeat("0", 300) + "\r\n")},
		{name: "trailer where none is expected", body: goodTrailer},
		{name: "no trailer where one is expected", body: good, trailer: true},
		{name: "trailer without signature", body: bytes.Replace(goodTrailer, []byte(trailerSigPrefix), []byte("x-amz-other:"), 1), trailer: true},
		{name: "trailer signature first", body: []byte("0;chunk-signature=" + sig + "\r\n" + trailerSigPrefix + sig + "\r\n\r\n"), trailer: true},
		{name: "trailer with a space", body: []byte("0;chunk-signature=" + sig + "\r\nx-amz-checksum-crc32: sOO8/Q==\r\n" + trailerSigPrefix + sig + "\r\n\r\n"), trailer: true},
		{name: "trailer name in capitals", body: []byte("0;chunk-signature=" + sig + "\r\nX-Amz-Checksum-Crc32:sOO8/Q==\r\n" + trailerSigPrefix + sig + "\r\n\r\n"), trailer: true},
		{name: "trailer without end", body: goodTrailer[:len(goodTrailer)-2], trailer: true},
		{name: "trailer then data", body: append(append([]byte{}, goodTrailer...), 'x'), trailer: true},
		{name: "too many trailers", body: clientBody([][]byte{{}}, strings.Split(strings.Repeat(crc+",", 9), ",")[:9]), trailer: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			max := tt.max
			if max == 0 {
				max = MaxChunkSize
			}
			out, err := resign(tt.body, tt.trailer, max)
			// Whatever happened, no signature of the client's went out.
			client := map[string]bool{}
			for _, s := range clientSigs(tt.body) {
				client[string(s)] = true
			}
			for _, s := range clientSigs(out) {
				if client[string(s)] {
					t.Fatalf("the client's signature %s was forwarded", s)
				}
			}
			if !tt.ok {
				if !errors.Is(err, ErrBadChunk) {
					t.Fatalf("err = %v, want ErrBadChunk", err)
				}
				// What went out is whole chunks, each re-signed, and no end.
				if _, verr := verifyChunked(out, exampleSecret, exampleDate, "us-east-1", "s3", exampleSeed, tt.trailer); verr != errIncomplete {
					t.Fatalf("a bad body came out as %v: %q", verr, out)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(out) != len(tt.body) {
				t.Fatalf("out is %d bytes, in %d", len(out), len(tt.body))
			}
			data, err := verifyChunked(out, exampleSecret, exampleDate, "us-east-1", "s3", exampleSeed, tt.trailer)
			if err != nil {
				t.Fatalf("%v\n%q", err, out)
			}
			if string(data) != tt.data {
				t.Fatalf("data %q, want %q", data, tt.data)
			}
		})
	}
}

// TestChunkResignerError: the error names what is wrong, never the key.
func TestChunkResignerError(t *testing.T) {
	s, _ := newChunkSigner(sentinel, exampleDate, "us-east-1", "s3", exampleSeed)
	key := hex.EncodeToString(s.mac.Sum(nil)) // not the key, but nothing like it may show either
	r := newChunkResigner(io.NopCloser(strings.NewReader("zz;chunk-signature=x\r\n")), s, false, 16)
	_, err := io.ReadAll(r)
	for _, text := range []string{err.Error(), fmt.Sprintf("%v %+v %#v %s", s, s, s, s), fmt.Sprintf("%+v %#v", r, r)} {
		if strings.Contains(text, sentinel) || strings.Contains(text, key) || strings.Contains(text, "AWS4") {
			t.Fatalf("printed secret material: %s", text)
		}
	}
}

// TestChunkResignerStreams: a chunk goes out as soon as it is complete,
// before the client has sent the next one, and memory stays one chunk.
func TestChunkResignerStreams(t *testing.T) {
	pr, pw := io.Pipe()
	s, _ := newChunkSigner(exampleSecret, exampleDate, "us-east-1", "s3", exampleSeed)
	r := newChunkResigner(pr, s, false, MaxChunkSize)
	body := clientBody([][]byte{bytes.Repeat([]byte("a"), 65536), bytes.Repeat([]byte("b"), 65536), {}}, nil)
	first := bytes.Index(body, []byte("\r\n10000;")) + 2
	go func() { _, _ = pw.Write(body[:first]) }()
	got := make([]byte, first)
	if _, err := io.ReadFull(r, got); err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = pw.Write(body[first:]); pw.Close() }()
	rest, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if cap(r.buf) > 65536+200 {
		t.Fatalf("buffer grew to %d bytes for 64 KiB chunks", cap(r.buf))
	}
	if _, err := verifyChunked(append(got, rest...), exampleSecret, exampleDate, "us-east-1", "s3", exampleSeed, false); err != nil {
		t.Fatal(err)
	}
}

func FuzzChunkResigner(f *testing.F) {
	f.Add(clientBody(exampleChunks()[1:], nil), false)
	f.Add(clientBody([][]byte{[]byte("hi"), {}}, []string{"x-amz-checksum-crc32:AAAAAA=="}), true)
	f.Add([]byte("5;chunk-signature="+strings.Repeat("a", 64)+"\r\nhello\r\n0;chunk-signature="+strings.Repeat("b", 64)+"\r\n\r\n"), false)
	f.Add([]byte("0;chunk-signature=\r\n\r\n"), false)
	f.Fuzz(func(t *testing.T, body []byte, trailer bool) {
		out, err := resign(body, trailer, 1<<16)
		if err != nil && !errors.Is(err, ErrBadChunk) {
			t.Fatalf("error %v does not wrap ErrBadChunk", err)
		}
		if err == nil && len(out) != len(body) {
			t.Fatalf("a whole body changed length: %d -> %d", len(body), len(out))
		}
		// Every chunk that went out carries our signature (so none of the
		// client's), and a refused body went out as whole chunks only,
		// without its end.
		_, verr := verifyChunked(out, exampleSecret, exampleDate, "us-east-1", "s3", exampleSeed, trailer)
		if (err == nil && verr != nil) || (err != nil && verr != errIncomplete) {
			t.Fatalf("resign: %v; the output verifies as %v\nin  %q\nout %q", err, verr, body, out)
		}
	})
}

// TestChunkResignerDeclaredSizeAllocatesNothing: a chunk header declaring
// the largest chunk costs the client ninety bytes; the proxy must not set
// aside the whole chunk before its data arrives (bodies have no read
// deadline, so a client could hold megabytes per connection with a few
// bytes each). What is allocated follows what arrives.
func TestChunkResignerDeclaredSizeAllocatesNothing(t *testing.T) {
	sig := strings.Repeat("d", 64)
	body := []byte(fmt.Sprintf("%x;chunk-signature=%s\r\n", MaxChunkSize, sig) + strings.Repeat("a", 100))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := resign(body, false, MaxChunkSize)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrBadChunk) {
		t.Fatalf("err = %v, want ErrBadChunk (the body ends inside the chunk)", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Fatalf("%d bytes allocated for a %d-byte body that declares a %d-byte chunk", n, len(body), MaxChunkSize)
	}
}

// TestChunkResignerGrowsWithData: chunks of every size up to the limit,
// their data arriving in small pieces, in any order of sizes (the buffer is
// reused and grown), come out re-signed and whole.
func TestChunkResignerGrowsWithData(t *testing.T) {
	const k = 64 << 10 // around the first allocation, and its doubling
	sizes := []int{1, MaxChunkSize, 3, k - 1, k, k + 1, 2*k + 5, MaxChunkSize - 1}
	var chunks [][]byte
	var want []byte
	for i, n := range sizes {
		c := bytes.Repeat([]byte{byte('a' + i)}, n)
		chunks = append(chunks, c)
		want = append(want, c...)
	}
	body := clientBody(append(chunks, nil), nil)
	s, _ := newChunkSigner(exampleSecret, exampleDate, "us-east-1", "s3", exampleSeed)
	out, err := io.ReadAll(newChunkResigner(io.NopCloser(iotest.HalfReader(bytes.NewReader(body))), s, false, MaxChunkSize))
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(body) {
		t.Fatalf("out is %d bytes, in %d", len(out), len(body))
	}
	data, err := verifyChunked(out, exampleSecret, exampleDate, "us-east-1", "s3", exampleSeed, false)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, want) {
		t.Fatal("the data changed")
	}
}

// TestChunkSizeOverflow: eight hex digits are more than a 32-bit int holds;
// a size that wraps negative must be refused, not sliced with (a panic in
// the upstream writer's goroutine ends the process). Run with GOARCH=386
// to see it on a 64-bit machine.
func TestChunkSizeOverflow(t *testing.T) {
	sig := strings.Repeat("d", 64)
	for _, size := range []string{"ffffffff", "80000000", "7fffffff", "fffffff0", "00800001"} {
		t.Run(size, func(t *testing.T) {
			_, err := resign([]byte(size+";chunk-signature="+sig+"\r\nhello\r\n"), false, MaxChunkSize)
			if !errors.Is(err, ErrBadChunk) {
				t.Fatalf("err = %v, want ErrBadChunk", err)
			}
		})
	}
}
