package portal

import (
	"strings"

	"github.com/alter-sidecar/alter/inject"
)

// scrub removes every submitted secret value from msg before it is shown.
// Backends promise not to quote a value in an error, but a message that
// reaches a page is the one place a broken promise would leak it, so the
// portal does not rely on it. Values shorter than 4 bytes are left alone:
// they would match ordinary words ("a", "id") and are no secret worth the
// garbling.
func scrub(msg string, fields inject.Fields) string {
	for _, v := range fields {
		if len(v) >= 4 {
			msg = strings.ReplaceAll(msg, v, "[redacted]")
		}
	}
	return msg
}
