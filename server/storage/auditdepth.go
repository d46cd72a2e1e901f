package storage

// maxAuditDepth is the deepest nesting of arrays and objects an audit
// body may have. Go's JSON takes ten thousand levels, the receivers of
// forwarded records far fewer (serde_json 128, Python and Jackson about a
// thousand): a body deeper than they take is refused on every retry and
// stalls forwarding to them. Audit records, policies included, nest a
// handful of levels.
const maxAuditDepth = 64

// jsonDepth is the deepest nesting in valid JSON b.
func jsonDepth(b []byte) int {
	depth, deepest := 0, 0
	inString, escaped := false, false
	for _, c := range b {
		switch {
		case escaped:
			escaped = false
		case inString:
			switch c {
			case '\\':
				escaped = true
			case '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			depth++
			deepest = max(deepest, depth)
		case c == ']' || c == '}':
			depth--
		}
	}
	return deepest
}
