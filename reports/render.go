package reports

import (
	"fmt"
	"io"
	"strings"
)

// Formats accepted by Render.
var Formats = []string{"md", "latex", "csv", "json"}

// Render writes t in one format: "md" (or "markdown"), "latex" (or "tex"), "csv" or "json".
func Render(w io.Writer, t *Table, format string) error {
	if t == nil {
		return fmt.Errorf("reports: nil table")
	}
	switch strings.ToLower(format) {
	case "md", "markdown":
		return writeMarkdown(w, t)
	case "latex", "tex":
		return writeLaTeX(w, t)
	case "csv":
		return writeCSV(w, t)
	case "json":
		return writeJSON(w, t)
	}
	return fmt.Errorf("reports: unknown format %q (known: %s)", format, strings.Join(Formats, ", "))
}
