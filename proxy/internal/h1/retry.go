package h1

import (
	"errors"
	"io"
	"net/http"
	"syscall"
)

// retryable follows net/http.Transport: on a reused connection, a request
// of which no byte was written may be retried if its body can be sent
// again; one that was written may be retried if the connection failed
// before any response byte and the request is replayable (idempotent).
func (pc *pconn) retryable(req *http.Request, err error) bool {
	if pc.nread > 0 || !connGone(err) {
		return false
	}
	rewindable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	if !rewindable {
		return false
	}
	if pc.write != nil {
		// The connection is closed, so the body's goroutine is ending: a
		// body that can be sent again is in memory and cannot hold it up.
		<-pc.write.done
	}
	if pc.nwrite.Load() == 0 {
		return true
	}
	return isReplayable(req)
}

// isReplayable is net/http's (*Request).isReplayable.
func isReplayable(r *http.Request) bool {
	if r.Body == nil || r.Body == http.NoBody || r.GetBody != nil {
		switch r.Method {
		case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
			return true
		}
		if _, ok := r.Header["Idempotency-Key"]; ok {
			return true
		}
		if _, ok := r.Header["X-Idempotency-Key"]; ok {
			return true
		}
	}
	return false
}

// connGone reports whether err says the peer had closed the connection.
func connGone(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ECONNABORTED)
}

// rewindBody returns req ready to be sent again.
func rewindBody(req *http.Request) (*http.Request, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return req, nil
	}
	if req.GetBody == nil {
		return nil, errors.New("request body cannot be sent again")
	}
	body, err := req.GetBody()
	if err != nil {
		return nil, err
	}
	next := *req
	next.Body = body
	return &next, nil
}

func closeReqBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}
