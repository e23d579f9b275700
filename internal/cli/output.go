package cli

import (
	"encoding/json"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/textutil"
)

// Output formats.
const (
	OutTable = "table"
	OutJSON  = "json"
	OutYAML  = "yaml"
)

// emit writes v as JSON or YAML, or calls table for the human format.
func (e *env) emit(v any, table func(w io.Writer)) error {
	switch e.output {
	case OutJSON:
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case OutYAML:
		// Through JSON, so that YAML keys are the API's field names.
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		var generic any
		if err := json.Unmarshal(b, &generic); err != nil {
			return err
		}
		enc := yaml.NewEncoder(e.stdout)
		enc.SetIndent(2)
		defer enc.Close()
		return enc.Encode(generic)
	default:
		tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
		table(tw)
		return tw.Flush()
	}
}

// SLA renders a due time as people read it: "due in 3d 4h", "OVERDUE 2h",
// "done", "-".
func SLA(p *patchctl.Patch, now time.Time) string {
	if p.State.Terminal() || p.State == patchctl.StateDone {
		return string(p.State)
	}
	if p.DueAt == nil {
		return "-"
	}
	d := p.DueAt.Sub(now)
	if d < 0 {
		return "OVERDUE " + textutil.Duration(-d)
	}
	return "due in " + textutil.Duration(d)
}

func target(p *patchctl.Patch) string {
	t := p.Target
	switch p.Kind {
	case patchctl.KindApplication:
		return t.Application
	case patchctl.KindKubernetes:
		return strings.Join(t.Clusters, ",") + " " + t.Version
	default:
		s := t.System
		if t.Downtime {
			s += " (downtime)"
		}
		return s
	}
}

func truncate(s string, n int) string {
	if len([]rune(s)) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

// truncateLeft keeps the end of s (the file name of a path).
func truncateLeft(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return "…" + string(r[len(r)-n+1:])
}

func ts(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04Z")
}

func tsp(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return ts(*t)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
