//go:build !unix

package proxy

// alive cannot peek at the socket here; a dead pooled connection shows up
// when it is used (and a replayable request is retried).
func (pc *h1Conn) alive() bool { return true }
