package audit

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// ProblemKind classifies what broke the chain.
type ProblemKind string

// Problem kinds, in the words alter audit verify uses.
const (
	ProblemMalformed ProblemKind = "malformed" // a line that is not a chained record
	ProblemEdited    ProblemKind = "edited"    // a record's hash does not match its successor's prev (or the head)
	ProblemMissing   ProblemKind = "missing"   // seq jumps, or a file lost its first lines
	ProblemReordered ProblemKind = "reordered" // records out of seq order
	ProblemInserted  ProblemKind = "inserted"  // two records with one seq
	ProblemTruncated ProblemKind = "truncated" // a line cut short, or records cut from the end
)

// Problem is the first place where a log fails verification. It is the
// error Verify returns for a broken chain (use errors.As).
type Problem struct {
	Kind   ProblemKind
	File   string
	Line   int    // 1-based line in File; 0 when about the whole file
	Seq    uint64 // the record concerned; 0 when unknown
	Reason string // e.g. "record 12 was edited: ..."
}

func (p *Problem) Error() string {
	if p.Line == 0 {
		return fmt.Sprintf("%s: %s", p.File, p.Reason)
	}
	return fmt.Sprintf("%s line %d: %s", p.File, p.Line, p.Reason)
}

// Report is what Verify checked.
type Report struct {
	Files    []string // in chain order
	Records  int64    // records verified (before the problem, if there is one)
	FirstSeq uint64   // 1 when the chain starts at genesis; more when older files are gone
	LastSeq  uint64
	LastHash string // LineHash of the last record: pin it elsewhere to detect a rewrite
	Head     string // the head file compared with the log, "" when there was none
	// HeadChecked is false when the head names a record older than the
	// verified files, so only "not cut short" could be checked.
	HeadChecked bool
}

// Verify checks a durable log. With one path it verifies the whole chain
// of that log: its rotated files, oldest first, then path (see Files).
// With several it verifies exactly those files, in the order given. It
// also compares the log with the head file of the last path, when there
// is one. It returns a *Problem for the first break in the chain, or
// another error when a file cannot be read.
func Verify(paths ...string) (Report, error) {
	if len(paths) == 1 {
		files, err := Files(paths[0])
		if err != nil {
			return Report{}, err
		}
		paths = files
	}
	return VerifyFiles(paths...)
}

// VerifyFiles verifies exactly the files given, in order.
func VerifyFiles(paths ...string) (Report, error) {
	if len(paths) == 0 {
		return Report{}, errors.New("verify: no audit files given")
	}
	v := &verifier{}
	// Read the head before the log: a sink writing meanwhile can only make
	// the log longer than its head, which is allowed, never shorter.
	headPath := HeadPath(paths[len(paths)-1])
	h, ok, err := readHead(headPath)
	if err != nil {
		return v.rep, &Problem{Kind: ProblemMalformed, File: headPath, Reason: err.Error()}
	}
	if ok {
		v.head, v.headPath = &h, headPath
	}
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return v.rep, err
		}
		err = v.file(p, f)
		f.Close()
		if err != nil {
			return v.rep, err
		}
	}
	return v.finish()
}

// verifier walks a chain line by line, keeping only the last record.
type verifier struct {
	rep Report

	have               bool // a record has been accepted
	lastSeq            uint64
	lastHash           string
	lastFile           string
	lastLine           int
	fileRecords        int // records seen in the current file
	head               *head
	headPath           string
	headHash, headFile string // the record at the head's seq, once seen
	headLine           int

	// A seq gap found and reported as missing, unless the skipped seq turns
	// up later, which makes it a reordering.
	pending *Problem
	lookFor uint64
	jumped  uint64 // the seq that came instead
}

// file checks one file's lines, continuing the chain.
func (v *verifier) file(name string, r io.Reader) error {
	v.rep.Files = append(v.rep.Files, name)
	v.fileRecords = 0
	lr := newLineReader(r)
	for {
		line, complete, err := lr.next()
		switch {
		case err == io.EOF:
			return nil
		case errors.Is(err, errLineTooLong):
			if v.pending != nil {
				return v.pending
			}
			return &Problem{Kind: ProblemMalformed, File: name, Line: lr.n, Seq: v.next(), Reason: err.Error()}
		case err != nil:
			return fmt.Errorf("read %s: %w", name, err)
		}
		if v.pending != nil {
			if p := v.look(line, name, lr.n); p != nil {
				return p
			}
			continue
		}
		if !complete {
			return &Problem{Kind: ProblemTruncated, File: name, Line: lr.n, Seq: v.next(), Reason: fmt.Sprintf(
				"file truncated after record %d: line %d has %d bytes and no newline (a write torn by a crash, or a cut)",
				v.lastSeq, lr.n, len(line))}
		}
		if p := v.add(line, name, lr.n); p != nil {
			if p == v.pending {
				continue
			}
			return p
		}
	}
}

// next is the seq the next record should have, 0 when unknown.
func (v *verifier) next() uint64 {
	if !v.have {
		return 0
	}
	return v.lastSeq + 1
}

// add checks one complete line against the chain so far.
func (v *verifier) add(line []byte, file string, n int) *Problem {
	e, err := parseChained(line)
	if err != nil {
		what := "line is"
		if v.have {
			what = fmt.Sprintf("record %d is", v.lastSeq+1)
		}
		return &Problem{Kind: ProblemMalformed, File: file, Line: n, Seq: v.next(), Reason: fmt.Sprintf("%s damaged: %v", what, err)}
	}
	at := func(k ProblemKind, reason string, args ...any) *Problem {
		return &Problem{Kind: k, File: file, Line: n, Seq: e.Seq, Reason: fmt.Sprintf(reason, args...)}
	}
	firstInFile := v.fileRecords == 0
	if firstInFile && !e.FileStart {
		return at(ProblemMissing, "lines before record %d were removed: the first line of the file is not marked %q", e.Seq, FieldFileStart)
	}
	if (e.Seq == 1) != (e.Prev == Genesis) {
		return at(ProblemEdited, "record %d was edited: only record 1 chains to genesis", e.Seq)
	}
	if v.have {
		switch want := v.lastSeq + 1; {
		case e.Seq == want && e.Prev != v.lastHash:
			if firstInFile {
				return at(ProblemEdited, "%s does not continue %s: record %d does not chain to record %d (the last record there was edited, or the files are from different logs)",
					file, v.lastFile, e.Seq, v.lastSeq)
			}
			return &Problem{Kind: ProblemEdited, File: v.lastFile, Line: v.lastLine, Seq: v.lastSeq, Reason: fmt.Sprintf(
				"record %d was edited (or inserted): its hash does not match the prev of the next record (%s line %d)", v.lastSeq, file, n)}
		case e.Seq > want:
			what := fmt.Sprintf("record %d is missing", want)
			if e.Seq-want > 1 {
				what = fmt.Sprintf("records %d to %d are missing", want, e.Seq-1)
			}
			where := fmt.Sprintf("seq jumps from %d to %d", v.lastSeq, e.Seq)
			if firstInFile {
				where = fmt.Sprintf("between %s and %s (was a rotated file removed?)", v.lastFile, file)
			}
			v.pending, v.lookFor, v.jumped = at(ProblemMissing, "%s: %s", what, where), want, e.Seq
			v.pending.Seq = want
			return v.pending
		case e.Seq == v.lastSeq:
			return at(ProblemInserted, "record %d appears twice (%s line %d and here): a record was inserted or copied", e.Seq, v.lastFile, v.lastLine)
		case e.Seq < v.lastSeq:
			return at(ProblemReordered, "records were reordered: record %d comes after record %d (%s line %d)", e.Seq, v.lastSeq, v.lastFile, v.lastLine)
		}
	} else {
		// The first record verified is the anchor, taken on trust: with
		// seq > 1 the files before it are not part of this verification.
		v.rep.FirstSeq = e.Seq
	}
	v.have = true
	v.lastSeq, v.lastHash, v.lastFile, v.lastLine = e.Seq, e.Hash, file, n
	v.fileRecords++
	v.rep.Records++
	if v.head != nil && e.Seq == v.head.Seq {
		v.headHash, v.headFile, v.headLine = e.Hash, file, n
	}
	return nil
}

// look scans past a seq gap for the seq that was skipped.
func (v *verifier) look(line []byte, file string, n int) *Problem {
	e, err := ParseEntry(line)
	if err != nil || e.Seq != v.lookFor {
		return nil
	}
	p := v.pending
	p.Kind, p.Seq = ProblemReordered, v.jumped
	p.Reason = fmt.Sprintf("records were reordered: record %d comes before record %d (%s line %d)", v.jumped, v.lookFor, file, n)
	return p
}

// finish runs the checks that need the whole log: a gap never filled, and
// the head.
func (v *verifier) finish() (Report, error) {
	if v.pending != nil {
		return v.rep, v.pending
	}
	v.rep.LastSeq, v.rep.LastHash = v.lastSeq, v.lastHash
	if v.head == nil {
		return v.rep, nil
	}
	v.rep.Head = v.headPath
	h := v.head
	switch {
	case h.Seq > v.lastSeq || (!v.have && h.Seq > 0):
		last := v.rep.Files[len(v.rep.Files)-1]
		reason := fmt.Sprintf("file truncated after record %d: records %d to %d were cut from the end (%s says the log reaches record %d)",
			v.lastSeq, v.lastSeq+1, h.Seq, v.headPath, h.Seq)
		if h.Seq == v.lastSeq+1 {
			reason = fmt.Sprintf("file truncated after record %d: record %d was cut from the end (%s says the log reaches it)",
				v.lastSeq, h.Seq, v.headPath)
		}
		return v.rep, &Problem{Kind: ProblemTruncated, File: last, Seq: v.lastSeq + 1, Reason: reason}
	case v.have && h.Seq >= v.rep.FirstSeq:
		if v.headHash != h.Hash {
			return v.rep, &Problem{Kind: ProblemEdited, File: v.headFile, Line: v.headLine, Seq: h.Seq, Reason: fmt.Sprintf(
				"record %d was edited: its hash does not match %s", h.Seq, v.headPath)}
		}
		v.rep.HeadChecked = true
	}
	return v.rep, nil
}
