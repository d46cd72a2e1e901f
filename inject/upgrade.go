package inject

import (
	"net/http"
	"strings"
)

// UpgradeWebSocket is the one protocol a request may switch to through the
// proxy (RFC 6455). Other Upgrade values are hop-by-hop headers like any
// other and are removed; h2c is refused before it gets here.
const UpgradeWebSocket = "websocket"

// UpgradeType returns "websocket" when h asks to switch to (or, on a 101
// response, announces) the WebSocket protocol: Connection lists the
// "upgrade" token and Upgrade holds exactly "websocket", in any letter case
// and under any spelling of the names. Anything else returns "".
func UpgradeType(h http.Header) string {
	connUpgrade, upgrades := false, 0
	websocket := false
	for k, vs := range h {
		switch {
		case len(k) != len("Connection") && len(k) != len("Upgrade"):
			// Most headers: this runs on every request.
		case strings.EqualFold(k, "Connection"):
			for _, v := range vs {
				for _, tok := range strings.Split(v, ",") {
					if strings.EqualFold(strings.TrimSpace(tok), "upgrade") {
						connUpgrade = true
					}
				}
			}
		case strings.EqualFold(k, "Upgrade"):
			for _, v := range vs {
				for _, tok := range strings.Split(v, ",") {
					upgrades++
					websocket = strings.EqualFold(strings.TrimSpace(tok), UpgradeWebSocket)
				}
			}
		}
	}
	if connUpgrade && upgrades == 1 && websocket {
		return UpgradeWebSocket
	}
	return ""
}

// SetUpgrade announces the switch to proto on h, after RemoveHopByHop took
// Connection and Upgrade away with the other hop-by-hop headers (as
// net/http/httputil's reverse proxy does).
func SetUpgrade(h http.Header, proto string) {
	h["Connection"] = []string{"Upgrade"}
	h["Upgrade"] = []string{proto}
}
