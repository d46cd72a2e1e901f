package main

import (
	"fmt"
	"net"
	"net/http"
	"os"

	"github.com/alter-sidecar/alter/errcode"
)

// fakeProxyMain, in a process started by TestRunIgnoresAnotherUsersProxy,
// is a listener that looks like an alter proxy to proxyAnswers: another
// user's process on the configured port.
func fakeProxyMain() {
	if os.Getenv("ALTER_TEST_FAKE_PROXY") == "" {
		return
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.Exit(3)
	}
	fmt.Println(ln.Addr().String())
	_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(errcode.HeaderError, "bad_request")
		w.WriteHeader(http.StatusBadRequest)
	}))
	os.Exit(0)
}
