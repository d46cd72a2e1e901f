package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/alter-sidecar/alter/inject"
)

// maxSecretInput bounds what is read from stdin: no credential is this big.
const maxSecretInput = 64 << 10

// readFields reads a secret's values from stdin. For a type with one field
// the whole input is the value (one trailing newline removed, so echo works).
// For several fields the input is a JSON object or KEY=VALUE lines. Errors
// never repeat the input.
func (a *app) readFields(want []string) (inject.Fields, error) {
	if f, ok := a.stdin.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			fmt.Fprintf(a.stderr, "reading the secret from standard input (%s); end with Ctrl-D\n", strings.Join(want, ", "))
		}
	}
	data, err := io.ReadAll(io.LimitReader(a.stdin, maxSecretInput+1))
	if err != nil {
		return nil, fmt.Errorf("read secret from stdin: %w", err)
	}
	if len(data) > maxSecretInput {
		return nil, fmt.Errorf("secret on stdin is larger than %d bytes", maxSecretInput)
	}
	return parseFields(data, want)
}

func parseFields(data []byte, want []string) (inject.Fields, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, errors.New("no secret on stdin (pipe it in: printf %s \"$TOKEN\" | alter secret add ...)")
	}
	if trimmed[0] == '{' {
		var m map[string]string
		// A JSON object is the fields, except for the one field of a
		// Google service account, whose value is itself a JSON key file.
		if err := json.Unmarshal(trimmed, &m); err == nil && !(len(want) == 1 && want[0] == "service_account_json") {
			return inject.Fields(m), nil
		} else if err != nil && len(want) > 1 {
			return nil, errors.New("stdin starts with '{' but is not a JSON object of strings")
		}
	}
	if len(want) == 1 {
		v := string(data)
		v = strings.TrimSuffix(v, "\n")
		v = strings.TrimSuffix(v, "\r")
		return inject.Fields{want[0]: v}, nil
	}
	fields := inject.Fields{}
	for i, line := range strings.Split(strings.TrimRight(string(data), "\r\n"), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("stdin line %d: want KEY=VALUE (keys: %s) or a JSON object", i+1, strings.Join(want, ", "))
		}
		if _, dup := fields[k]; dup {
			return nil, fmt.Errorf("stdin line %d: %s given twice", i+1, k)
		}
		fields[k] = v
	}
	return fields, nil
}
