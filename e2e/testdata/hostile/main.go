// Command hostile is a fake fcp agent for the e2e tests: it speaks the wire
// protocol on stdin and stdout like `fcp agent`, but serves a scan that
// its configuration dictates, valid or not.
//
// The configuration is hostile.json beside the executable (the tests
// install the fake in the agent cache, so each test has its own). The fake
// never writes to stderr: whatever it printed there would reach the
// user's terminal and spoil the test's count of error lines.
package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"io"
	"os"
	"path"
	"path/filepath"

	"github.com/zeebo/blake3"

	"github.com/fcp-dev/fcp/internal/wire"
)

// config is what the test asks of the fake.
type config struct {
	// Noise is written before wire.Magic, as a chatty shell would.
	Noise string `json:"noise"`
	// Entries are the scan's entries, sent as they are, in this order.
	Entries []entry `json:"entries"`
	// BadSum makes every ReadResp carry the hash of other bytes.
	BadSum bool `json:"bad_sum"`
}

// entry is one scan entry and, for a file, its content.
type entry struct {
	Path  string `json:"path"`
	Type  string `json:"type"` // "file" or "dir"
	Mode  uint32 `json:"mode"`
	Mtime int64  `json:"mtime"`
	Data  string `json:"data"`
}

func main() {
	cfg, err := load()
	if err != nil {
		os.Exit(2)
	}
	out := bufio.NewWriter(os.Stdout)
	if cfg.Noise != "" {
		// Noise, Magic and Hello go out in one write, so the client sees
		// the whole line of noise at once.
		out.WriteString(cfg.Noise)
		out.Write(wire.Magic[:])
		frame(out, 0, &wire.Hello{MinVersion: wire.MinVersion, MaxVersion: wire.Version, Software: "hostile"})
		out.Flush()
		io.Copy(io.Discard, os.Stdin)
		return
	}
	conn := wire.NewConn(os.Stdin, os.Stdout)
	if _, _, err := conn.Handshake(wire.Hello{MinVersion: wire.MinVersion, MaxVersion: wire.Version, Software: "hostile"}); err != nil {
		os.Exit(2)
	}
	files := map[string]entry{}
	for _, e := range cfg.Entries {
		files[e.Path] = e
	}
	for {
		id, m, err := conn.Recv()
		if err != nil {
			return
		}
		switch m := m.(type) {
		case *wire.StatReq:
			frame(out, id, &wire.StatResp{Abs: abs(m.Path), Exists: true, Type: wire.TypeDir})
		case *wire.OpenReq:
			frame(out, id, &wire.OpenResp{Root: id, Abs: abs(m.Path)})
		case *wire.ScanReq:
			batch := &wire.ScanBatch{}
			for _, e := range cfg.Entries {
				we := wire.Entry{Path: e.Path, Type: wire.TypeDir, Mode: e.Mode, Mtime: e.Mtime}
				if e.Type == "file" {
					we.Type, we.Size = wire.TypeFile, int64(len(e.Data))
				}
				batch.Entries = append(batch.Entries, we)
			}
			frame(out, id, batch)
			frame(out, id, &wire.Result{})
		case *wire.ReadReq:
			e, ok := files[m.Path]
			if !ok || e.Type != "file" {
				frame(out, id, &wire.Result{Code: wire.CodeNotExist, Msg: "read " + m.Path + ": no such file"})
				break
			}
			data := []byte(e.Data)
			lo := min(m.Off, int64(len(data)))
			hi := min(lo+int64(m.Len), int64(len(data)))
			chunk := data[lo:hi]
			sum := blake3.Sum256(chunk)
			if cfg.BadSum {
				sum = blake3.Sum256(append([]byte("tampered:"), chunk...))
			}
			frame(out, id, &wire.ReadResp{Data: chunk, Sum: sum, Size: int64(len(data)), Mtime: e.Mtime})
		case *wire.CloseReq:
			frame(out, id, &wire.Result{})
		case *wire.ScanMore, *wire.Cancel:
		default:
			frame(out, id, &wire.Result{Code: wire.CodeInvalid, Msg: "hostile: unexpected " + m.Kind().String()})
		}
		if out.Flush() != nil {
			return
		}
	}
}

// load reads hostile.json beside the executable.
func load() (config, error) {
	var cfg config
	exe, err := os.Executable()
	if err != nil {
		return cfg, err
	}
	b, err := os.ReadFile(filepath.Join(filepath.Dir(exe), "hostile.json"))
	if err != nil {
		return cfg, err
	}
	return cfg, json.Unmarshal(b, &cfg)
}

// frame writes m as one frame under id without validating it, which is
// the point: wire.Conn.Send would refuse the hostile entries.
func frame(w io.Writer, id uint32, m wire.Message) {
	body := wire.AppendBody(nil, m)
	var h [9]byte
	binary.BigEndian.PutUint32(h[:4], uint32(5+len(body)))
	h[4] = byte(m.Kind())
	binary.BigEndian.PutUint32(h[5:], id)
	w.Write(h[:])
	w.Write(body)
}

// abs answers a host path the way the real agent would, without looking
// at any file: absolute and clean.
func abs(p string) string {
	if !path.IsAbs(p) {
		p = "/" + p
	}
	return path.Clean(p)
}
