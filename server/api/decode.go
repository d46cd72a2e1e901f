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

// checkKeys refuses an object that names a key twice, in any mix of case.
// encoding/json matches names without regard to case and keeps the last
// duplicate, so {"app":"a","APP":"b"} would store app b while a gateway or
// a reviewer reading the first key sees a: one body, two readings. Keys
// are names (fields, params), never secret values, so the message may
// quote them.
func checkKeys(body []byte) *apiError {
	type frame struct {
		object, wantKey bool
		keys            map[string]bool
	}
	var stack []*frame
	dec := json.NewDecoder(bytes.NewReader(body))
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return nil // malformed JSON: Decode reports it with its offset
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				stack = append(stack, &frame{object: t == '{', wantKey: t == '{', keys: map[string]bool{}})
				continue
			default:
				stack = stack[:len(stack)-1]
			}
		case string:
			if top != nil && top.object && top.wantKey {
				k := strings.ToLower(t)
				if top.keys[k] {
					return badRequest(fmt.Sprintf("key %q appears twice in one object (keys are matched without regard to case)", t))
				}
				top.keys[k], top.wantKey = true, false
				continue
			}
		}
		// A value ended: its object, if any, wants a key next.
		if len(stack) > 0 && stack[len(stack)-1].object {
			stack[len(stack)-1].wantKey = true
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
	// "json: unknown field \"x\"" and time parse errors name the field
	// or the expected layout, not the value's secret part.
	msg := err.Error()
	if len(msg) > 200 {
		msg = msg[:200]
	}
	return "invalid request body: " + msg
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
