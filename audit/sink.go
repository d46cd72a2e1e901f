package audit

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// ErrClosed is returned by Write on a sink that has been closed.
var ErrClosed = errors.New("audit sink closed")

// Sink stores audit records. Implementations are safe for concurrent use.
// Write returns an error when the record was not stored (the proxy relies
// on this to fail closed); Write after Close returns an error wrapping
// ErrClosed.
type Sink interface {
	Write(Record) error
	Close() error
}

// zapSink writes one JSON line per record through a zap core.
type zapSink struct {
	mu     sync.Mutex
	core   zapcore.Core
	out    zapcore.WriteSyncer
	group  *groupWriter // batches writes; nil when writing directly
	file   *os.File     // nil for stdout/stderr, which we must not close
	closed bool
}

// NewZapSink returns a sink writing JSON lines to path: "stdout", "stderr"
// or a file, which is opened for appending and created with mode 0600 if
// missing. The file's directory must already exist. Lines are written by a
// group-commit writer (see groupWriter): a failed write is reported by a
// later Write or by Close.
func NewZapSink(path string) (Sink, error) {
	switch path {
	case "stdout":
		return newGroupSink(os.Stdout, nil), nil
	case "stderr":
		return newGroupSink(os.Stderr, nil), nil
	case "":
		return nil, errors.New("audit sink: empty path (use stdout, stderr or a file path)")
	}
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("audit sink %s: directory %s: %w", path, dir, err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("audit sink %s: %s is not a directory", path, dir)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit sink %s: %w", path, err)
	}
	return newGroupSink(f, f), nil
}

// newGroupSink is a zapSink whose lines go through a groupWriter.
func newGroupSink(out zapcore.WriteSyncer, file *os.File) *zapSink {
	g := newGroupWriter(out)
	s := newZapSink(g, file)
	s.group = g
	return s
}

func newZapSink(out zapcore.WriteSyncer, file *os.File) *zapSink {
	return &zapSink{core: zapcore.NewCore(newEncoder(), out, zapcore.InfoLevel), out: out, file: file}
}

// newEncoder returns the JSON encoder every sink uses, so plain and
// durable lines have the same shape.
func newEncoder() zapcore.Encoder {
	return zapcore.NewJSONEncoder(zapcore.EncoderConfig{
		TimeKey:        FieldTime,
		MessageKey:     FieldMessage,
		EncodeTime:     encodeTimeUTC,
		EncodeDuration: zapcore.MillisDurationEncoder,
		LineEnding:     zapcore.DefaultLineEnding,
		// No level, caller, name or stacktrace keys: every line is a
		// grant use, and the shape stays fixed for parsers.
	})
}

// encodeTimeUTC writes RFC 3339 with nanoseconds in UTC, so lines from
// hosts in different zones sort and compare as text.
func encodeTimeUTC(t time.Time, enc zapcore.PrimitiveArrayEncoder) {
	enc.AppendString(t.UTC().Format(time.RFC3339Nano))
}

// Write encodes r as one line. A zero r.Time is set to now. It calls the
// core directly, not a zap.Logger, because a Logger drops write errors
// and an audit record that was not written must not pass silently.
func (s *zapSink) Write(r Record) error {
	if r.Time.IsZero() {
		r.Time = time.Now()
	}
	ent := zapcore.Entry{Level: zapcore.InfoLevel, Time: r.Time, Message: MessageGrantUse}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if err := s.core.Write(ent, []zapcore.Field{zap.Inline(r)}); err != nil {
		return fmt.Errorf("write audit record: %w", err)
	}
	return nil
}

// Close flushes the output and, for a file, closes it. Stdout and stderr
// are left open.
func (s *zapSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	err := s.out.Sync()
	if s.group != nil {
		if gerr := s.group.Close(); err == nil {
			err = gerr
		}
		if s.file != nil {
			_ = s.file.Sync()
		}
	}
	if s.file == nil {
		return nil // syncing a terminal or pipe fails harmlessly
	}
	if cerr := s.file.Close(); err == nil {
		err = cerr
	}
	return err
}
