//go:build unix

package h1

import "syscall"

// alive reports whether a pooled connection still looks usable: a
// non-blocking peek at the socket finds neither EOF (the upstream closed it
// while it sat idle) nor unsolicited bytes. It costs one recvfrom(2), and
// saves a non-replayable request from being written to a dead connection.
func (pc *pconn) alive() bool {
	sc, ok := pc.raw.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	alive := true
	var buf [1]byte
	err = rc.Read(func(fd uintptr) bool {
		_, _, perr := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		alive = perr == syscall.EAGAIN || perr == syscall.EWOULDBLOCK || perr == syscall.EINTR
		return true
	})
	return err == nil && alive
}
