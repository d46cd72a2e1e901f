package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"

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
