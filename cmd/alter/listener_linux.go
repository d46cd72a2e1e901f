package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"net"
	"os"
	"strconv"
	"strings"
)

// listenerOwner returns the user id owning the TCP socket that listens at
// addr (IP:port), from /proc/net/tcp and tcp6: a listener on the address
// itself or on the unspecified address of its family (or of IPv6, which
// takes IPv4 too). A listener of another user wins over one of ours, so
// the answer errs towards "not ours". known is false when none is found or
// /proc cannot be read.
func listenerOwner(addr string) (uid int, known bool) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, false
	}
	ip := net.ParseIP(host)
	port, err := strconv.ParseUint(portStr, 10, 16)
	if ip == nil || err != nil {
		return 0, false
	}
	own := os.Getuid()
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := os.ReadFile(table)
		if err != nil {
			continue
		}
		for _, u := range listenersAt(data, ip, int(port)) {
			if !known || u != own {
				uid, known = u, true
			}
		}
	}
	return uid, known
}

// listenersAt returns the uids of the listening sockets in a /proc/net/tcp
// or tcp6 table that accept connections to ip:port.
func listenersAt(table []byte, ip net.IP, port int) []int {
	var uids []int
	sc := bufio.NewScanner(bytes.NewReader(table))
	sc.Scan() // the heading
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 8 || f[3] != "0A" { // 0A: LISTEN
			continue
		}
		hexIP, hexPort, ok := strings.Cut(f[1], ":")
		p, err := strconv.ParseUint(hexPort, 16, 16)
		if !ok || err != nil || int(p) != port {
			continue
		}
		local := procIP(hexIP)
		if local == nil || !(local.Equal(ip) || (local.IsUnspecified() && (len(hexIP) == 32 || ip.To4() != nil))) {
			continue
		}
		uid, err := strconv.Atoi(f[7])
		if err != nil {
			continue
		}
		uids = append(uids, uid)
	}
	return uids
}

// procIP reads an address as /proc/net/tcp prints it: 32-bit words in the
// host's byte order.
func procIP(s string) net.IP {
	b, err := hex.DecodeString(s)
	if err != nil || (len(b) != 4 && len(b) != 16) {
		return nil
	}
	ip := make(net.IP, len(b))
	for i := 0; i < len(b); i += 4 {
		binary.BigEndian.PutUint32(ip[i:], binary.NativeEndian.Uint32(b[i:]))
	}
	return ip
}
