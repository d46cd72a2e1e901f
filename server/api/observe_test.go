package api

import (
	"net/http"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/internal/testdb"
)

// observed is one call of Options.ObserveRequest.
type observed struct {
	route  string
	status int
}

// TestObserveRequestNamesTheRoute: the metrics hook gets the matched
// route's pattern, never the path (which holds ids), whatever the answer.
func TestObserveRequestNamesTheRoute(t *testing.T) {
	calls := make(chan observed, 16)
	e := newEnv(t, testdb.SQLite(t), func(o *Options) {
		o.ObserveRequest = func(route string, status int, elapsed time.Duration) {
			if elapsed < 0 {
				t.Errorf("negative duration %v", elapsed)
			}
			calls <- observed{route, status}
		}
	})
	for _, tc := range []struct {
		name, method, path, token string
		want                      observed
	}{
		{"an answered read", "GET", "/v1/grants", e.admin, observed{"GET /v1/grants", http.StatusOK}},
		{"an id in the path", "GET", "/v1/grants/0b6c2c56-0000-4000-8000-000000000001", e.admin, observed{"GET /v1/grants/{id}", http.StatusNotFound}},
		{"no token", "GET", "/v1/grants", "", observed{"GET /v1/grants", http.StatusUnauthorized}},
		{"the wrong kind of token", "GET", "/v1/grants", e.billing, observed{"GET /v1/grants", http.StatusForbidden}},
		{"a method the path has not", "DELETE", "/v1/grants", e.admin, observed{"", http.StatusMethodNotAllowed}},
		{"no such route", "GET", "/v1/nothing-here", e.admin, observed{"", http.StatusNotFound}},
		{"a path not in its clean form", "GET", "/v1//grants", e.admin, observed{"", http.StatusNotFound}},
		{"health", "GET", "/healthz", "", observed{"GET /healthz", http.StatusOK}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := e.call(tc.method, tc.path, tc.token, nil)
			select {
			case got := <-calls:
				if got != tc.want || a.status != tc.want.status {
					t.Fatalf("observed %+v (answer %d), want %+v", got, a.status, tc.want)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the request was not observed")
			}
		})
	}
}
