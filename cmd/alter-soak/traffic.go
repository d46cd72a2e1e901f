package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// traffic sends the mix. Each kind states the status it must get; any
// other answer, a transport error or the secret in a body is an error.
type traffic struct {
	f        *fixture
	client   *http.Client
	requests atomic.Int64
	errors   atomic.Int64
	lastErr  atomic.Value
	next     atomic.Uint64
	kinds    []kind
}

type kind struct {
	name   string
	method string
	url    string
	grant  string
	want   int
	sse    bool
}

const unknownGrant = "7d4c2b1a-0f9e-4d8c-b7a6-958473625140"

func newTraffic(f *fixture, c *child) *traffic {
	pool, err := f.pool()
	if err != nil {
		panic(err)
	}
	proxyURL, _ := url.Parse("http://" + c.proxy)
	tr := &http.Transport{
		Proxy:               http.ProxyURL(proxyURL),
		TLSClientConfig:     &tls.Config{RootCAs: pool},
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     30 * time.Second,
	}
	t := &traffic{f: f, client: &http.Client{Transport: tr, Timeout: 15 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	t.kinds = []kind{
		{"grant tls", "GET", "https://api.soak.test/v1/items", f.grant, 200, false},
		{"grant tls post", "POST", "https://api.soak.test/v1/items", f.grant, 200, false},
		{"grant http upgraded", "GET", "http://api.soak.test/v1/items", f.grant, 200, false},
		{"grant plain http", "GET", "http://plain.soak.test/v1/items", f.plain, 200, false},
		{"passthrough http", "GET", "http://open.soak.test/", "", 200, false},
		{"passthrough tunnel", "GET", "https://tunnel.soak.test/", "", 200, false},
		{"denied other host", "GET", "http://open.soak.test/", f.grant, 403, false},
		{"denied unknown grant", "GET", "https://api.soak.test/", unknownGrant, 403, false},
		{"sse", "GET", "https://api.soak.test/sse", f.grant, 200, true},
	}
	return t
}

// warmUp sends each kind once, so a broken setup fails fast.
func (t *traffic) warmUp() error {
	for _, k := range t.kinds {
		if err := t.do(k); err != nil {
			return fmt.Errorf("warm-up %s: %w", k.name, err)
		}
	}
	t.requests.Store(0)
	return nil
}

// run sends rate requests per second across workers until ctx is done.
func (t *traffic) run(ctx context.Context, rate, workers int) {
	jobs := make(chan kind)
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range jobs {
				if err := t.do(k); err != nil {
					t.errors.Add(1)
					t.lastErr.Store(fmt.Errorf("%s: %w", k.name, err))
				}
			}
		}()
	}
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			close(jobs)
			wg.Wait()
			return
		case <-tick.C:
			k := t.kinds[t.next.Add(1)%uint64(len(t.kinds))]
			select {
			case jobs <- k:
			case <-ctx.Done():
			}
		}
	}
}

func (t *traffic) do(k kind) error {
	t.requests.Add(1)
	var body io.Reader
	if k.method == "POST" {
		body = strings.NewReader(`{"n":1}`)
	}
	req, err := http.NewRequest(k.method, k.url, body)
	if err != nil {
		return err
	}
	if k.grant != "" {
		req.Header.Set("X-Alter-Grant", k.grant)
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != k.want {
		return fmt.Errorf("status %d, want %d", resp.StatusCode, k.want)
	}
	if k.sse {
		events := 0
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "data: ") {
				events++
			}
		}
		if events != 5 {
			return fmt.Errorf("SSE: %d events, want 5", events)
		}
		return nil
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if strings.Contains(string(b), t.f.secret) {
		return fmt.Errorf("the secret came back in a response")
	}
	if k.want == 200 && k.grant != "" && !strings.Contains(string(b), `"authorized":true`) {
		return fmt.Errorf("no credential arrived upstream")
	}
	return nil
}

func (t *traffic) closeIdle() { t.client.CloseIdleConnections() }
