//go:build linux

package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/fcp-dev/fcp/bench/internal/report"
)

// renderCommand is the verb "bench render": it writes results.md and
// results.svg again from a results.json, after a change to the report.
func renderCommand(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench render", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "bench", "directory with results.json; results.md and results.svg are written beside it")
	if err := fs.Parse(args); err != nil {
		return err
	}
	b, err := os.ReadFile(filepath.Join(*dir, "results.json"))
	if err != nil {
		return err
	}
	var r report.Results
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("%s: %w", filepath.Join(*dir, "results.json"), err)
	}
	if err := r.WriteMarkdown(filepath.Join(*dir, "results.md")); err != nil {
		return err
	}
	return r.WriteSVG(filepath.Join(*dir, "results.svg"))
}
