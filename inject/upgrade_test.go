package inject

import (
	"net/http"
	"testing"
)

func TestUpgradeType(t *testing.T) {
	cases := []struct {
		name string
		h    http.Header
		want string
	}{
		{"websocket", http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}}, UpgradeWebSocket},
		{"any case, any spelling of the names", http.Header{"connection": {"keep-alive, UPGRADE"}, "upgrade": {"WebSocket"}}, UpgradeWebSocket},
		{"Connection in two fields", http.Header{"Connection": {"keep-alive", "upgrade"}, "Upgrade": {" websocket "}}, UpgradeWebSocket},
		{"no Connection: upgrade", http.Header{"Upgrade": {"websocket"}}, ""},
		{"Connection without the token", http.Header{"Connection": {"upgraded"}, "Upgrade": {"websocket"}}, ""},
		{"another protocol", http.Header{"Connection": {"Upgrade"}, "Upgrade": {"h2c"}}, ""},
		{"two protocols in one field", http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket, h2c"}}, ""},
		{"two protocols in two fields", http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket", "websocket"}}, ""},
		{"nothing", http.Header{}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := UpgradeType(c.h); got != c.want {
				t.Errorf("UpgradeType(%v) = %q, want %q", c.h, got, c.want)
			}
		})
	}
}
