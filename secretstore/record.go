package secretstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// The store file, version 1:
//
//	{
//	  "version": 1,
//	  "grants": [ {Grant fields..., "mac": {"key_id": "...", "sum": "<base64>"}} ],
//	  "secrets": [ {"id", "injection", "provider", "fields", "version", "key_id",
//	                "updated_at", "nonce": "<base64>", "ciphertext": "<base64>",
//	                "mac": {...}} ]
//	}
//
// The file is decoded in two steps. The envelope must be exactly this shape
// (a syntax error or unknown member makes the whole store unreadable). Each
// record is then decoded on its own, so one bad record (unknown field, wrong
// type, failed MAC) makes only that record unusable. Records stay raw JSON
// between the steps, and a write puts back every record it did not change
// as it found it (only whitespace is normalised): a record this binary
// cannot read is never dropped.

const (
	fileVersion      = 1
	maxStoreFileSize = 64 << 20
)

// storeFile is the envelope with its records still raw.
type storeFile struct {
	Version int               `json:"version"`
	Grants  []json.RawMessage `json:"grants"`
	Secrets []json.RawMessage `json:"secrets"`
}

// grantRecord is a grant as stored.
type grantRecord struct {
	Grant
	MAC *recordMAC `json:"mac,omitempty"`
}

// secretRecord is a secret as stored: its description and its sealed fields.
type secretRecord struct {
	SecretInfo
	Nonce      []byte     `json:"nonce"`
	Ciphertext []byte     `json:"ciphertext"`
	MAC        *recordMAC `json:"mac,omitempty"`
}

func emptyStoreFile() *storeFile {
	return &storeFile{Version: fileVersion, Grants: []json.RawMessage{}, Secrets: []json.RawMessage{}}
}

// decodeStoreFile parses the envelope. Errors say where the file is wrong
// (line and column of a syntax error); the caller adds the path.
func decodeStoreFile(data []byte) (*storeFile, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("file is empty (want a JSON object with \"version\": 1)")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f storeFile
	if err := dec.Decode(&f); err != nil {
		return nil, describeJSONError(data, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%s: data after the JSON object", position(data, dec.InputOffset()))
	}
	if f.Version != fileVersion {
		if f.Version == 0 {
			return nil, errors.New("no \"version\" member (want 1)")
		}
		return nil, fmt.Errorf("version %d is not supported (this alter reads version %d)", f.Version, fileVersion)
	}
	return &f, nil
}

// encode renders the file as it is written: indented, ending in a newline,
// so a diff of two versions is readable.
func (f *storeFile) encode() ([]byte, error) {
	out, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// describeJSONError turns decoder errors into ones that say where.
func describeJSONError(data []byte, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		// Offset counts the bytes read, the bad one included.
		return fmt.Errorf("%s: JSON syntax error: %v", position(data, syn.Offset-1), syn)
	case errors.As(err, &typ):
		return fmt.Errorf("%s: %q should be %s, not %s", position(data, typ.Offset), typ.Field, typ.Type, typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("file ends in the middle of the JSON (truncated?)")
	}
	return err
}

// position renders a byte offset (from 0) with its line and column (from 1).
func position(data []byte, offset int64) string {
	offset = max(0, min(offset, int64(len(data))))
	before := data[:offset]
	line := bytes.Count(before, []byte("\n")) + 1
	col := int(offset) - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return fmt.Sprintf("offset %d (line %d, column %d)", offset, line, col)
}

// decodeRecord decodes one record strictly: an unknown member is an error,
// because a MAC cannot vouch for a field this binary would ignore.
func decodeRecord(raw json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("malformed record: %v", err)
	}
	return nil
}

// recordID reads just the "id" of a record, leniently, so a record that
// fails to decode can still be named and its grant marked unusable.
func recordID(raw json.RawMessage) string {
	var r struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(raw, &r)
	return r.ID
}

// canonical is the grant record's signed form: itself without its mac.
func (r grantRecord) canonical() ([]byte, error) {
	r.MAC = nil
	return canonicalJSON(r)
}

// canonical is the secret record's signed form: itself without its mac.
func (r secretRecord) canonical() ([]byte, error) {
	r.MAC = nil
	return canonicalJSON(r)
}

// signGrant returns the grant as a signed record.
func (k *Keyring) signGrant(g Grant) (json.RawMessage, error) {
	rec := grantRecord{Grant: g}
	canon, err := rec.canonical()
	if err != nil {
		return nil, err
	}
	rec.MAC = k.sign(kindGrant, canon)
	return json.Marshal(rec)
}

// signSecret returns the secret record with its mac set.
func (k *Keyring) signSecret(rec secretRecord) (json.RawMessage, error) {
	canon, err := rec.canonical()
	if err != nil {
		return nil, err
	}
	rec.MAC = k.sign(kindSecret, canon)
	return json.Marshal(rec)
}

// openGrant decodes a grant record and checks its MAC.
func (k *Keyring) openGrant(raw json.RawMessage) (grantRecord, error) {
	var rec grantRecord
	if err := decodeRecord(raw, &rec); err != nil {
		return rec, err
	}
	canon, err := rec.canonical()
	if err != nil {
		return rec, fmt.Errorf("malformed record: %v", err)
	}
	return rec, k.verify(kindGrant, canon, rec.MAC)
}

// openSecretRecord decodes a secret record and checks its MAC. It does not
// decrypt: that happens only when a grant is used.
func (k *Keyring) openSecretRecord(raw json.RawMessage) (secretRecord, error) {
	var rec secretRecord
	if err := decodeRecord(raw, &rec); err != nil {
		return rec, err
	}
	canon, err := rec.canonical()
	if err != nil {
		return rec, fmt.Errorf("malformed record: %v", err)
	}
	return rec, k.verify(kindSecret, canon, rec.MAC)
}
