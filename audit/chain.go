package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Genesis is the "prev" of the first record of a chain (seq 1).
var Genesis = strings.Repeat("0", sha256.Size*2)

// LineHash returns the hex SHA-256 of one log line without its newline:
// the value the next line's "prev" must hold.
func LineHash(line []byte) string {
	sum := sha256.Sum256(line)
	return hex.EncodeToString(sum[:])
}

// encodeLine encodes r as one chained line, ending in a newline. The chain
// fields go last so that a plain reader sees the same record as from the
// non-durable sink.
func encodeLine(enc zapcore.Encoder, r chained, seq uint64, prev string, fileStart bool) ([]byte, error) {
	ent := zapcore.Entry{Level: zapcore.InfoLevel, Time: r.when(), Message: r.message()}
	fields := []zapcore.Field{zap.Inline(r), zap.Uint64(FieldSeq, seq), zap.String(FieldPrev, prev)}
	if fileStart {
		fields = append(fields, zap.Bool(FieldFileStart, true))
	}
	buf, err := enc.EncodeEntry(ent, fields)
	if err != nil {
		return nil, err
	}
	line := append([]byte(nil), buf.Bytes()...)
	buf.Free()
	return line, nil
}

// chained is what a durable log holds: a grant use (Record) or an admin
// event (AdminEvent). Both chain the same way, so one verifier checks both.
type chained interface {
	zapcore.ObjectMarshaler
	when() time.Time
	message() string
}

func (r Record) when() time.Time { return r.Time }
func (r Record) message() string { return MessageGrantUse }

// isHash reports whether s looks like a hex SHA-256 as we write it
// (lower case).
func isHash(s string) bool {
	if len(s) != sha256.Size*2 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
