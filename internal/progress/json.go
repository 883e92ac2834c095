package progress

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"unicode/utf8"
)

// JSONWriter writes transfer events as JSON Lines: one object per line,
// each written with a single Write call. It is safe for concurrent use;
// events from concurrent calls never interleave. The first write error is
// sticky: later calls write nothing and return it.
//
// Every object has an "event" field naming its kind:
//
//	{"event":"file","action":A,"path":P,"type":T,"bytes":N}
//	{"event":"error","path":P,"error":MSG}
//	{"event":"summary","files":N,"bytes":N,"deleted":N,"errors":N,"seconds":F,"dry_run":B}
//
// In "file" events, action is what happened to the entry ("create",
// "update", "delete", "meta" for metadata only, "skip"), type is "file",
// "dir", "symlink", "fifo", "chardev" or "blockdev", and bytes is the file
// data written for it (0 when none was). In "error" events path is left out when the error is not
// about one entry. Paths are relative to the transfer root.
//
// A path that is valid UTF-8 appears as is in "path". Otherwise "path"
// holds it with each run of invalid bytes replaced by U+FFFD, for
// display, and "path_b64" holds its exact bytes in standard base64
// (RFC 4648 §4, with padding); a consumer that needs the path takes
// "path_b64" when present. Error messages are text for people: invalid
// UTF-8 in them becomes U+FFFD.
type JSONWriter struct {
	mu  sync.Mutex
	w   io.Writer
	buf bytes.Buffer
	err error
}

// Summary is the final "summary" event of a transfer.
type Summary struct {
	Files   int64   // entries created or updated
	Bytes   int64   // file data written
	Deleted int64   // entries deleted
	Errors  int64   // entries that failed
	Seconds float64 // wall time of the transfer
	DryRun  bool    // nothing was changed; the counts are what would be
}

// NewJSONWriter returns a JSONWriter writing to w. Only the JSONWriter
// writes to w while it is in use.
func NewJSONWriter(w io.Writer) *JSONWriter {
	return &JSONWriter{w: w}
}

type fileEvent struct {
	Event   string `json:"event"`
	Action  string `json:"action"`
	Path    string `json:"path"`
	PathB64 string `json:"path_b64,omitempty"`
	Type    string `json:"type"`
	Bytes   int64  `json:"bytes"`
}

type errorEvent struct {
	Event   string `json:"event"`
	Path    string `json:"path,omitempty"`
	PathB64 string `json:"path_b64,omitempty"`
	Error   string `json:"error"`
}

type summaryEvent struct {
	Event   string  `json:"event"`
	Files   int64   `json:"files"`
	Bytes   int64   `json:"bytes"`
	Deleted int64   `json:"deleted"`
	Errors  int64   `json:"errors"`
	Seconds float64 `json:"seconds"`
	DryRun  bool    `json:"dry_run"`
}

// File writes a "file" event: action was done to the entry at path, of
// type typ, writing bytes bytes of file data.
func (j *JSONWriter) File(action, path, typ string, bytes int64) error {
	p, b64 := jsonPath(path)
	return j.write(fileEvent{Event: "file", Action: action, Path: p, PathB64: b64, Type: typ, Bytes: bytes})
}

// Error writes an "error" event: the entry at path failed with err. An
// empty path means the error is not about one entry.
func (j *JSONWriter) Error(path string, err error) error {
	p, b64 := jsonPath(path)
	msg := "unknown error"
	if err != nil {
		msg = err.Error()
	}
	return j.write(errorEvent{Event: "error", Path: p, PathB64: b64, Error: msg})
}

// Summary writes the "summary" event; a transfer writes it once, last.
func (j *JSONWriter) Summary(s Summary) error {
	return j.write(summaryEvent{
		Event:   "summary",
		Files:   s.Files,
		Bytes:   s.Bytes,
		Deleted: s.Deleted,
		Errors:  s.Errors,
		Seconds: s.Seconds,
		DryRun:  s.DryRun,
	})
}

func (j *JSONWriter) write(v any) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return j.err
	}
	j.buf.Reset()
	enc := json.NewEncoder(&j.buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("progress: encode event: %w", err)
	}
	if _, err := j.w.Write(j.buf.Bytes()); err != nil {
		j.err = fmt.Errorf("progress: write event: %w", err)
	}
	return j.err
}

// jsonPath returns p for the "path" field and, if p is not valid UTF-8,
// its exact bytes for "path_b64".
func jsonPath(p string) (text, b64 string) {
	if utf8.ValidString(p) {
		return p, ""
	}
	return strings.ToValidUTF8(p, "\uFFFD"), base64.StdEncoding.EncodeToString([]byte(p))
}
