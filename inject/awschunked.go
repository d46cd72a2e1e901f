package inject

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
)

// S3's chunk-signed uploads (X-Amz-Content-Sha256:
// STREAMING-AWS4-HMAC-SHA256-PAYLOAD, and its -TRAILER form) carry a body in
// aws-chunked framing where every chunk names its own signature:
//
//	<hex size>;chunk-signature=<64 hex>\r\n<data>\r\n    (repeated)
//	0;chunk-signature=<64 hex>\r\n                       (final chunk)
//	\r\n                                                 (no trailer), or
//	<name>:<value>\r\n... x-amz-trailer-signature:<64 hex>\r\n\r\n
//
// The client signed each chunk with its own (dummy) key, chained from the
// seed signature in its Authorization header. The proxy signs the headers
// with the stored key and re-signs every chunk, chained from its own seed.
// Sizes and signatures keep their length, so Content-Length and
// X-Amz-Decoded-Content-Length stay right. One chunk at a time is held in
// memory: its signature precedes its data, and depends on all of it.
//
// The SDK's v4.StreamSigner computes the chunk string to sign we need (with
// an empty headers argument), but not the trailer's
// ("AWS4-HMAC-SHA256-TRAILER", five lines), and its signing key derivation
// is internal to the SDK; so both are done here, and the tests check the
// chunk signatures against StreamSigner's and AWS's published example.

const (
	streamingSigned        = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	streamingSignedTrailer = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
)

// MaxChunkSize is the largest aws-chunked chunk the proxy re-signs (SDKs
// send 64 or 128 KiB). Env.MaxSignedBody lowers it when smaller.
const MaxChunkSize = 8 << 20

// ErrBadChunk: a chunk-signed body is not well-formed aws-chunked framing
// (or a chunk is over the size limit). The upstream body ends with this
// error, so the upstream never takes the request for a whole one; the
// proxy answers 400 if it still can.
var ErrBadChunk = errors.New("malformed aws-chunked body")

const (
	chunkSigPrefix   = ";chunk-signature="
	trailerSigPrefix = "x-amz-trailer-signature:"
	sigHexLen        = 64
	maxSizeDigits    = 8   // hex digits of a chunk size: MaxChunkSize needs 6
	maxChunkLine     = 256 // a chunk header line or a trailer line, CRLF included
	maxTrailerLines  = 8
)

// chunkSigner continues a SigV4 signature chain over aws-chunked chunks. It
// holds the derived signing key, so it prints as a placeholder.
type chunkSigner struct {
	mac   hash.Hash // HMAC-SHA256 keyed with the derived signing key
	date  string    // X-Amz-Date, 20060102T150405Z
	scope string    // 20060102/region/service/aws4_request
	prev  [sigHexLen]byte
}

// newChunkSigner starts a chain at seed (the request's header signature,
// hex) for the given secret, X-Amz-Date, region and service.
func newChunkSigner(secret, date, region, service, seed string) (*chunkSigner, error) {
	if len(date) != len("20060102T150405Z") || len(seed) != sigHexLen || !isLowerHex(seed) {
		return nil, errors.New("sigv4: no seed signature to chain chunk signatures from")
	}
	day := date[:8]
	key := hmacSHA256([]byte("AWS4"+secret), day)
	for _, part := range []string{region, service, "aws4_request"} {
		key = hmacSHA256(key, part)
	}
	s := &chunkSigner{mac: hmac.New(sha256.New, key), date: date, scope: day + "/" + region + "/" + service + "/aws4_request"}
	copy(s.prev[:], seed)
	return s, nil
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// chunk returns the signature of the next chunk, data, and moves the chain on.
func (s *chunkSigner) chunk(data []byte) [sigHexLen]byte {
	sum := sha256.Sum256(data)
	return s.sign("AWS4-HMAC-SHA256-PAYLOAD", emptyPayloadHash+"\n"+hex.EncodeToString(sum[:]))
}

// trailer returns the signature of the trailing headers, given as
// "name:value\n" lines. It ends the chain.
func (s *chunkSigner) trailer(canonical []byte) [sigHexLen]byte {
	sum := sha256.Sum256(canonical)
	return s.sign("AWS4-HMAC-SHA256-TRAILER", hex.EncodeToString(sum[:]))
}

func (s *chunkSigner) sign(algorithm, tail string) [sigHexLen]byte {
	s.mac.Reset()
	for _, part := range []string{algorithm, "\n", s.date, "\n", s.scope, "\n", string(s.prev[:]), "\n", tail} {
		s.mac.Write([]byte(part))
	}
	var sig [sigHexLen]byte
	hex.Encode(sig[:], s.mac.Sum(nil))
	s.prev = sig
	return sig
}

// Format keeps the signing key out of every fmt verb.
func (s *chunkSigner) Format(f fmt.State, _ rune) {
	_, _ = io.WriteString(f, "chunkSigner{key: redacted}")
}

// chunkResigner is an aws-chunked request body with every signature
// replaced by the chunkSigner's. It reads one chunk from the client, checks
// its framing strictly, and hands out the re-signed chunk; anything
// malformed ends the body with ErrBadChunk, and nothing of that chunk (in
// particular not the client's signature) is handed out.
type chunkResigner struct {
	src     *bufio.Reader
	body    io.Closer
	sig     *chunkSigner
	trailer bool // a signed trailer follows the final chunk
	max     int  // largest chunk data accepted
	buf     []byte
	out     []byte // what is left of the current chunk to hand out
	err     error  // returned once out is empty: io.EOF after the final chunk
}

func newChunkResigner(body io.ReadCloser, sig *chunkSigner, trailer bool, max int) *chunkResigner {
	return &chunkResigner{src: bufio.NewReaderSize(body, 4096), body: body, sig: sig, trailer: trailer, max: max}
}

func (r *chunkResigner) Read(p []byte) (int, error) {
	for len(r.out) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		r.err = r.next()
	}
	n := copy(p, r.out)
	r.out = r.out[n:]
	return n, nil
}

func (r *chunkResigner) Close() error { return r.body.Close() }

func badChunk(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadChunk, fmt.Sprintf(format, args...))
}

// next reads and re-signs one chunk into r.out. It returns io.EOF with the
// final chunk, and an ErrBadChunk error (with r.out empty) on bad framing.
func (r *chunkResigner) next() error {
	line, err := r.line()
	if err != nil {
		return err
	}
	sizeHex, size, err := r.parseChunkLine(line)
	if err != nil {
		return err
	}
	head := len(sizeHex) + len(chunkSigPrefix) + sigHexLen + 2
	buf, err := r.readData(head, size)
	if err != nil {
		return err
	}
	data := buf[head : head+size]
	sig := r.sig.chunk(data)
	n := copy(buf, sizeHex)
	n += copy(buf[n:], chunkSigPrefix)
	n += copy(buf[n:], sig[:])
	copy(buf[n:], "\r\n")
	copy(buf[head+size:], "\r\n")
	if size > 0 {
		if err := r.crlf(); err != nil {
			return err
		}
		r.out = buf
		return nil
	}
	// The final chunk: its header line, then either the end or the trailer.
	final := buf[:head]
	if !r.trailer {
		if err := r.crlf(); err != nil {
			return err
		}
		final = append(final, "\r\n"...)
	} else {
		trailer, err := r.resignTrailer()
		if err != nil {
			return err
		}
		final = append(final, trailer...)
	}
	if _, err := r.src.ReadByte(); err != io.EOF {
		return badChunk("data after the final chunk")
	}
	r.out = final
	return io.EOF
}

// chunkAlloc is as much of a chunk's buffer as is allocated before its
// data arrives. A declared size costs the client a few bytes and may never
// be followed by data (request bodies have no read deadline), so it alone
// must not make the proxy hold megabytes per connection; past this the
// buffer doubles as the data comes in.
const chunkAlloc = 64 << 10

// readData reads the size bytes of a chunk's data into a buffer laid out as
// the re-signed chunk: head bytes for its header line, the data, and two
// for the CRLF after it. The buffer is reused from chunk to chunk, and
// grows to at most twice the data received.
func (r *chunkResigner) readData(head, size int) ([]byte, error) {
	need := head + size + 2
	end := head + size
	// A buffer that holds the data holds the CRLF too.
	capFor := func(n int) int {
		if n >= end {
			return need
		}
		return n
	}
	buf := r.buf[:cap(r.buf)]
	if len(buf) < need && len(buf) < head+chunkAlloc {
		buf = make([]byte, capFor(head+chunkAlloc))
	}
	for n := head; n < end; {
		if n == len(buf) {
			grown := make([]byte, capFor(2*len(buf)))
			copy(grown[head:], buf[head:n])
			buf = grown
		}
		m, err := r.src.Read(buf[n:min(len(buf), end)])
		n += m
		if err != nil && n < end {
			return nil, badChunk("the body ends inside a %d-byte chunk", size)
		}
	}
	if len(buf) < need { // a reused buffer that ends inside the CRLF
		grown := make([]byte, need)
		copy(grown[head:], buf[head:end])
		buf = grown
	}
	r.buf = buf
	return buf[:need], nil
}

// parseChunkLine checks "<hex size>;chunk-signature=<64 lowercase hex>" and
// returns the size as sent (to send it unchanged) and its value.
func (r *chunkResigner) parseChunkLine(line []byte) ([]byte, int, error) {
	semi := bytes.IndexByte(line, ';')
	if semi < 1 || semi > maxSizeDigits {
		return nil, 0, badChunk("a chunk header must start with 1 to %d hex digits and ';'", maxSizeDigits)
	}
	sizeHex, ext := line[:semi], line[semi:]
	size := 0
	for _, c := range sizeHex {
		d, ok := hexDigit(c)
		if !ok {
			return nil, 0, badChunk("chunk size %q is not hex", sizeHex)
		}
		size = size<<4 | int(d)
		if size > r.max {
			// Checked digit by digit: eight hex digits overflow a 32-bit
			// int, and a negative size would pass a check made after.
			return nil, 0, badChunk("chunk size %q is over the %d-byte limit", sizeHex, r.max)
		}
	}
	sig, ok := bytes.CutPrefix(ext, []byte(chunkSigPrefix))
	if !ok || len(sig) != sigHexLen || !isLowerHex(string(sig)) {
		return nil, 0, badChunk("a chunk header must end with %s and 64 lowercase hex digits", chunkSigPrefix)
	}
	return sizeHex, size, nil
}

// resignTrailer reads the trailing headers after the final chunk, up to and
// including the blank line, and returns them with the trailer signature
// replaced: "name:value" lines exactly as sent, then
// "x-amz-trailer-signature:<ours>", then the blank line. The signature
// covers the lines in the order sent, each ending in "\n" (the SDKs send
// them sorted by name, which is the canonical order).
func (r *chunkResigner) resignTrailer() ([]byte, error) {
	var out, canonical []byte
	for n := 0; ; n++ {
		line, err := r.line()
		if err != nil {
			return nil, err
		}
		if sig, ok := bytes.CutPrefix(line, []byte(trailerSigPrefix)); ok {
			if n == 0 || len(sig) != sigHexLen || !isLowerHex(string(sig)) {
				return nil, badChunk("the trailer signature must follow the trailing headers and be 64 lowercase hex digits")
			}
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || !trailerName(name) || !trailerValue(value) {
			return nil, badChunk("a trailing header must be lowercase-name:value with no spaces")
		}
		if n == maxTrailerLines {
			return nil, badChunk("more than %d trailing headers", maxTrailerLines)
		}
		out = append(append(out, line...), "\r\n"...)
		canonical = append(append(canonical, line...), '\n')
	}
	if end, err := r.line(); err != nil || len(end) != 0 {
		return nil, badChunk("the trailer must end with a blank line after its signature")
	}
	sig := r.sig.trailer(canonical)
	return append(append(append(out, trailerSigPrefix...), sig[:]...), "\r\n\r\n"...), nil
}

// line reads one CRLF-terminated line of at most maxChunkLine bytes and
// returns it without the CRLF (a copy: the next read reuses the buffer).
func (r *chunkResigner) line() ([]byte, error) {
	var line []byte
	for {
		part, err := r.src.ReadSlice('\n')
		line = append(line, part...)
		if len(line) > maxChunkLine {
			return nil, badChunk("a chunk header or trailer line is over %d bytes", maxChunkLine)
		}
		if err == nil {
			break
		}
		if err != bufio.ErrBufferFull {
			return nil, badChunk("the body ends inside a chunk header or trailer")
		}
	}
	body, ok := bytes.CutSuffix(line, []byte("\r\n"))
	if !ok || bytes.ContainsAny(body, "\r\n") {
		return nil, badChunk("chunk header and trailer lines must end in CRLF")
	}
	return body, nil
}

// crlf reads the CRLF that ends a chunk's data.
func (r *chunkResigner) crlf() error {
	var b [2]byte
	if _, err := io.ReadFull(r.src, b[:]); err != nil || b != [2]byte{'\r', '\n'} {
		return badChunk("chunk data must be followed by CRLF")
	}
	return nil
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// trailerName accepts the lowercase header names S3 trailers use
// (x-amz-checksum-crc32 and the like).
func trailerName(b []byte) bool {
	for _, c := range b {
		if !(c == '-' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return len(b) > 0
}

// trailerValue accepts visible ASCII without spaces (checksums are base64).
func trailerValue(b []byte) bool {
	for _, c := range b {
		if c <= ' ' || c > '~' {
			return false
		}
	}
	return len(b) > 0
}
