// Package report holds the results of a benchmark and renders them: a
// Markdown table (results.md), a grouped bar chart written as SVG by hand
// (results.svg) and the raw runs as JSON (results.json).
package report
