// Package httpstatus records the status a handler answered with, for the
// one log line per request that the control plane's API and the developer
// portal write.
package httpstatus

import "net/http"

// Writer remembers the first status written through it: 200 when the
// handler writes a body without a header, 0 while nothing is written.
// Flush passes through for event streams, and Unwrap lets
// http.ResponseController reach the connection (deadlines).
type Writer struct {
	http.ResponseWriter
	Status int
}

func (s *Writer) WriteHeader(code int) {
	if s.Status == 0 {
		s.Status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *Writer) Write(b []byte) (int, error) {
	if s.Status == 0 {
		s.Status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Flush sends what is buffered, if the underlying writer can.
func (s *Writer) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap returns the underlying writer, for http.ResponseController.
func (s *Writer) Unwrap() http.ResponseWriter { return s.ResponseWriter }
