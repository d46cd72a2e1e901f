// Command receiver is a SIEM's webhook endpoint for test/siem, run as a
// process of its own so a test can kill it the way a real one dies:
// SIGKILL, with a batch received and stored but not yet answered.
//
// It checks every request's signature (audit/forward's HMAC scheme, key
// from -key), appends each record's id to -out/ids (fsync'd before the
// answer) and the raw body to -out/raw, and counts bad signatures in
// -out/bad. With -hold-after N, once N ids are stored it stores the next
// batch, prints "holding N" (its size) and never answers: the test then kills it.
// With -delay D it waits D after storing each batch before it answers, so a
// test can kill the sender while batches are still on their way.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/alter-sidecar/alter/audit/forward"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	keyFile := flag.String("key", "", "file holding the HMAC key")
	out := flag.String("out", "", "directory for ids, raw and bad")
	holdAfter := flag.Int("hold-after", 0, "hold the first batch that arrives after this many stored ids (0: never)")
	delay := flag.Duration("delay", 0, "how long to wait after storing a batch before answering")
	flag.Parse()
	key, err := os.ReadFile(*keyFile)
	if err != nil {
		fail(err)
	}
	r := &receiver{key: []byte(strings.TrimSpace(string(key))), holdAfter: *holdAfter, delay: *delay}
	if r.stored, err = countLines(filepath.Join(*out, "ids")); err != nil {
		fail(err)
	}
	open := func(name string) *os.File {
		f, err := os.OpenFile(filepath.Join(*out, name), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			fail(err)
		}
		return f
	}
	r.ids, r.raw, r.bad = open("ids"), open("raw"), open("bad")
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fail(err)
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	fail(srv.Serve(ln))
}

type receiver struct {
	key       []byte
	holdAfter int
	delay     time.Duration
	mu        sync.Mutex
	stored    int
	ids, raw  *os.File
	bad       *os.File
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 64<<20))
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := r.raw.Write(append(body, '\n')); err != nil {
		fail(err)
	}
	if err := forward.Verify(r.key, req.Header.Get(forward.HeaderTimestamp), req.Header.Get(forward.HeaderSignature), body, time.Now(), 5*time.Minute); err != nil {
		_, _ = fmt.Fprintln(r.bad, err)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var b forward.Batch
	if err := json.Unmarshal(body, &b); err != nil {
		_, _ = fmt.Fprintln(r.bad, "not a batch:", err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	var lines strings.Builder
	for _, rec := range b.Records {
		lines.WriteString(rec.ID + "\n")
	}
	if _, err := r.ids.WriteString(lines.String()); err != nil {
		fail(err)
	}
	if err := r.ids.Sync(); err != nil {
		fail(err)
	}
	hold := r.holdAfter > 0 && r.stored >= r.holdAfter
	r.stored += len(b.Records)
	if hold {
		fmt.Printf("holding %d\n", len(b.Records))
		select {} // stored, never answered: the test kills the process
	}
	time.Sleep(r.delay) // stored, not yet answered: a sender killed now has not had the acknowledgement
	w.WriteHeader(http.StatusOK)
}

func countLines(path string) (int, error) {
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return 0, nil
	}
	return strings.Count(string(data), "\n"), err
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "receiver:", err)
	os.Exit(1)
}
