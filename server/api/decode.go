package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"

	"github.com/alter-sidecar/alter/server/wire"
)

// decode reads the request body into v: at most wire.MaxBody bytes (413
// beyond), one JSON value, no unknown field anywhere, nothing after it.
// Decoding errors name the field or offset, never quote the body: it may
// hold a secret.
func decode(w http.ResponseWriter, r *http.Request, v any) *apiError {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, wire.MaxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return errTooLarge
		}
		return badRequest("the request body could not be read")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return badRequest("the request body is empty; it must be a JSON object")
	}
	if e := checkKeys(body); e != nil {
		return e
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest(describe(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badRequest("the request body has data after its JSON value")
	}
	return nil
}

// maxDepth bounds how deeply a body's arrays and objects nest. The
// deepest honest body (a secret with a custom injection) nests 4 levels;
// without a bound, 1 MiB of "[" made a million frames.
const maxDepth = 64

// checkKeys refuses an object that names a key twice, in any mix of case,
// and a body nested deeper than maxDepth. encoding/json matches names
// without regard to case and keeps the last duplicate, so
// {"app":"a","APP":"b"} would store app b while a gateway or a reviewer
// reading the first key sees a: one body, two readings. Keys are names
// (fields, params), never secret values, so the message may quote them.
// Memory stays proportional to the depth and to the keys of the open
// objects: a frame is a value on a bounded stack, and its key set is only
// made when its object has a first key.
func checkKeys(body []byte) *apiError {
	type frame struct {
		object, wantKey bool
		keys            map[string]struct{}
	}
	stack := make([]frame, 0, 8)
	dec := json.NewDecoder(bytes.NewReader(body))
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return nil // malformed JSON: Decode reports it with its offset
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				if len(stack) == maxDepth {
					return badRequest(fmt.Sprintf("the request body nests arrays and objects deeper than %d levels", maxDepth))
				}
				stack = append(stack, frame{object: t == '{', wantKey: t == '{'})
				continue
			default:
				stack = stack[:len(stack)-1]
			}
		case string:
			if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].wantKey {
				top := &stack[n-1]
				k := strings.ToLower(t)
				if _, dup := top.keys[k]; dup {
					return badRequest(fmt.Sprintf("key %q appears twice in one object (keys are matched without regard to case)", t))
				}
				if top.keys == nil {
					top.keys = make(map[string]struct{}, 4)
				}
				top.keys[k], top.wantKey = struct{}{}, false
				continue
			}
		}
		// A value ended: its object, if any, wants a key next.
		if n := len(stack); n > 0 && stack[n-1].object {
			stack[n-1].wantKey = true
		}
	}
}

// describe turns a decoding error into a message without body text.
func describe(err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return fmt.Sprintf("the request body is not valid JSON (at byte %d)", syntax.Offset)
	case errors.As(err, &typ):
		if typ.Field != "" {
			return fmt.Sprintf("field %q: want a JSON %s", typ.Field, jsonKind(typ.Type))
		}
		return fmt.Sprintf("the request body must be a JSON %s", jsonKind(typ.Type))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "the request body is truncated JSON"
	}
	// "json: unknown field \"x\"" names a key, which is no secret. Any
	// other error (a time or duration that does not parse, a type's own
	// UnmarshalJSON) may quote the value, so it is not repeated.
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok && len(f) <= 130 {
		return "invalid request body: unknown field " + f
	}
	return "invalid request body: a value does not parse (times are RFC 3339 such as 2026-01-02T15:04:05Z, durations Go durations such as \"15m\")"
}

// jsonKind names the JSON form of a Go type, for messages.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "value"
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "object"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	}
	return "number"
}

// writeJSON answers with v as JSON. Answers are never cached: some carry
// secret values, and all describe state that changes.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"error":"internal_error","message":"internal error"}`)
		w.Header().Set(wire.HeaderError, wire.CodeInternal)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
