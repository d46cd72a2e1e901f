package proxy

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/alter-sidecar/alter/errcode"
)

// The call context: what a client says a grant use belongs to (an agent's
// run, its thread, the tool that made the call), from the X-Alter-Run-Id,
// X-Alter-Thread-Id and X-Alter-Tool headers, and the trace id of its W3C
// traceparent. It goes into the audit record and nowhere else: the
// X-Alter-* headers are stripped with the others (inject.Outbound), and
// traceparent, which is not ours, is forwarded as it came. None of it is
// trusted for a decision; it is the client's word, recorded as such.
//
// Reading it must cost next to nothing on the header path: one pass over
// the header map comparing lengths first, values kept as the header's own
// strings, so a request without these headers (or with valid ones)
// allocates nothing.

// callContext holds the values as sent (escaping happens when the audit
// record is encoded, audit.Sanitize).
type callContext struct {
	runID, threadID, tool string
	traceID               string // "" when there is no valid traceparent
}

// readCallContext reads the call context from h, under any spelling of the
// names. A value over errcode.MaxCallContextBytes, or two different values
// of one header, is an error naming the header (never the value): the
// record would otherwise hold something other than what was sent. Repeats
// of one value and empty values are tolerated. A traceparent that is
// missing, repeated or invalid is simply not recorded.
func readCallContext(h http.Header) (callContext, error) {
	var cc callContext
	var traceparent string
	traceparents := 0
	for k, vs := range h {
		var dst *string
		var name string
		switch len(k) {
		case len(errcode.HeaderRunID):
			if strings.EqualFold(k, errcode.HeaderRunID) {
				dst, name = &cc.runID, errcode.HeaderRunID
			}
		case len(errcode.HeaderThreadID):
			if strings.EqualFold(k, errcode.HeaderThreadID) {
				dst, name = &cc.threadID, errcode.HeaderThreadID
			}
		case len(errcode.HeaderTool):
			if strings.EqualFold(k, errcode.HeaderTool) {
				dst, name = &cc.tool, errcode.HeaderTool
			}
		case len(errcode.HeaderTraceparent):
			if strings.EqualFold(k, errcode.HeaderTraceparent) {
				traceparents += len(vs)
				if len(vs) > 0 {
					traceparent = vs[0]
				}
			}
		}
		if dst == nil {
			continue
		}
		for _, v := range vs {
			v = strings.TrimSpace(v)
			switch {
			case len(v) > errcode.MaxCallContextBytes:
				return callContext{}, fmt.Errorf("%s is longer than %d bytes", name, errcode.MaxCallContextBytes)
			case v == "":
			case *dst != "" && *dst != v:
				return callContext{}, fmt.Errorf("two different %s values", name)
			default:
				*dst = v
			}
		}
	}
	if traceparents == 1 {
		cc.traceID, _ = traceID(traceparent)
	}
	return cc, nil
}

// traceparentLen is the length of a version 00 traceparent:
// version "-" trace-id "-" parent-id "-" flags.
const traceparentLen = 2 + 1 + 32 + 1 + 16 + 1 + 2

// traceID returns the trace id of a W3C Trace Context traceparent value
// and whether the value is valid: lower-case hex throughout, a version
// other than ff, a trace id and a parent id that are not all zeros, and
// for version 00 nothing after the flags. A later version may carry more
// fields after a dash; its first four are read as version 00's, as the
// specification asks.
func traceID(v string) (string, bool) {
	if len(v) < traceparentLen || v[2] != '-' || v[35] != '-' || v[52] != '-' {
		return "", false
	}
	version, trace, parent, flags := v[0:2], v[3:35], v[36:52], v[53:55]
	switch {
	case !lowerHex(version) || version == "ff":
		return "", false
	case version == "00" && len(v) != traceparentLen:
		return "", false
	case len(v) > traceparentLen && v[traceparentLen] != '-':
		return "", false
	case !lowerHex(trace) || allZeros(trace) || !lowerHex(parent) || allZeros(parent) || !lowerHex(flags):
		return "", false
	}
	return trace, true
}

func lowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func allZeros(s string) bool {
	return strings.Trim(s, "0") == ""
}

// callContext puts the request's call context into its audit record, or
// says why the request is refused (a 400 naming the header).
func (ex *exchange) callContext() *failure {
	cc, err := readCallContext(ex.in.Header)
	if err != nil {
		f := badRequest(err.Error())
		return &f
	}
	ex.record.RunID, ex.record.ThreadID, ex.record.Tool, ex.record.TraceID = cc.runID, cc.threadID, cc.tool, cc.traceID
	return nil
}

// firstFailure is the first of fs that is not nil.
func firstFailure(fs ...*failure) *failure {
	for _, f := range fs {
		if f != nil {
			return f
		}
	}
	return nil
}
