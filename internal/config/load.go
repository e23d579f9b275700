package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/patchctl/patchctl"
)

// Problem is one thing wrong with a configuration.
type Problem struct {
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		if p.Line > 0 {
			b.WriteString(":" + strconv.Itoa(p.Line))
		}
		b.WriteString(": ")
	}
	if p.Field != "" {
		b.WriteString(p.Field + ": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Problems is a list of problems; as an error it prints one per line.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// source remembers where each field was written.
type source struct {
	file  string
	lines map[string]int
}

// Locate fills in File and Line of p from where its Field (or the closest
// parent field) was written.
func (c *Config) Locate(p Problem) Problem {
	if c.source == nil {
		return p
	}
	p.File = c.source.file
	for f := p.Field; f != ""; f = parentField(f) {
		if l, ok := c.source.lines[f]; ok {
			p.Line = l
			break
		}
	}
	return p
}

// File returns the path the config was loaded from, or "".
func (c *Config) File() string {
	if c.source == nil {
		return ""
	}
	return c.source.file
}

func parentField(f string) string {
	if i := strings.LastIndexAny(f, ".["); i >= 0 {
		return f[:i]
	}
	return ""
}

// Load reads path on top of the defaults, then applies the environment.
// An empty path means no file: defaults and environment only. A path that
// does not exist is an error unless optional is set.
func Load(path string, optional bool, getenv func(string) string) (*Config, error) {
	c := Default()
	if path != "" {
		data, err := os.ReadFile(path)
		switch {
		case err == nil:
			ps, fatal := c.decode(path, data)
			if fatal {
				return c, ps
			}
			ps = append(ps, c.ApplyEnv(getenv)...)
			ps = append(ps, c.Validate()...)
			if len(ps) > 0 {
				return c, ps
			}
			return c, nil
		case optional && errors.Is(err, os.ErrNotExist):
		default:
			return c, Problems{{File: path, Message: err.Error()}}
		}
	}
	if ps := c.ApplyEnv(getenv); len(ps) > 0 {
		return c, ps
	}
	if ps := c.Validate(); len(ps) > 0 {
		return c, ps
	}
	return c, nil
}

// Parse decodes data as if read from file name on top of the defaults and
// validates it, without the environment.
func Parse(name string, data []byte) (*Config, error) {
	c := Default()
	ps, fatal := c.decode(name, data)
	if !fatal {
		ps = append(ps, c.Validate()...)
	}
	if len(ps) > 0 {
		return c, ps
	}
	return c, nil
}

var reYAMLLine = regexp.MustCompile(`^line (\d+): (.*)$`)

// decode reads data over c. Type errors (unknown keys, wrong types) leave
// the rest decoded and are returned with fatal unset, so that validation can
// add its problems to the list; a syntax error is fatal.
func (c *Config) decode(file string, data []byte) (Problems, bool) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return Problems{yamlProblem(file, err)}, true
	}
	c.source = &source{file: file, lines: map[string]int{}}
	if len(root.Content) > 0 {
		walkLines(root.Content[0], "", c.source.lines)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(c)
	if err == nil || errors.Is(err, io.EOF) {
		return nil, false
	}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		var ps Problems
		for _, msg := range te.Errors {
			p := Problem{File: file, Message: msg}
			if m := reYAMLLine.FindStringSubmatch(msg); m != nil {
				p.Line, _ = strconv.Atoi(m[1])
				p.Message = m[2]
				p.Field = c.source.fieldAt(p.Line)
			}
			ps = append(ps, p)
		}
		return ps, false
	}
	return Problems{yamlProblem(file, err)}, true
}

func yamlProblem(file string, err error) Problem {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	p := Problem{File: file, Message: msg}
	if m := reYAMLLine.FindStringSubmatch(msg); m != nil {
		p.Line, _ = strconv.Atoi(m[1])
		p.Message = m[2]
	}
	return p
}

// fieldAt returns the deepest field written on line, for decoder errors that
// only give a line.
func (s *source) fieldAt(line int) string {
	best := ""
	for f, l := range s.lines {
		if l == line && len(f) > len(best) {
			best = f
		}
	}
	return best
}

func walkLines(n *yaml.Node, path string, lines map[string]int) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			lines[p] = k.Line
			walkLines(v, p, lines)
		}
	case yaml.SequenceNode:
		for i, v := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			lines[p] = v.Line
			walkLines(v, p, lines)
		}
	}
}

// Env lists the environment variables Load reads, with the field each sets.
var Env = []struct{ Name, Field string }{
	{"PATCHCTL_DATABASE", "server.database"},
	{"PATCHCTL_LISTEN", "server.listen"},
	{"PATCHCTL_BASE_URL", "server.base_url"},
	{"PATCHCTL_LOG_FORMAT", "server.log_format"},
	{"PATCHCTL_LOG_LEVEL", "server.log_level"},
	{"PATCHCTL_MAX_UPLOAD_BYTES", "server.max_upload_bytes"},
	{"PATCHCTL_POLICY_VERSION", "policy_version"},
	{"PATCHCTL_SOAK", "soak"},
}

// ApplyEnv overrides settings from PATCHCTL_* variables.
func (c *Config) ApplyEnv(getenv func(string) string) Problems {
	if getenv == nil {
		return nil
	}
	var ps Problems
	for _, e := range Env {
		v := getenv(e.Name)
		if v == "" {
			continue
		}
		switch e.Name {
		case "PATCHCTL_DATABASE":
			c.Server.Database = v
		case "PATCHCTL_LISTEN":
			c.Server.Listen = v
		case "PATCHCTL_BASE_URL":
			c.Server.BaseURL = v
		case "PATCHCTL_LOG_FORMAT":
			c.Server.LogFormat = v
		case "PATCHCTL_LOG_LEVEL":
			c.Server.LogLevel = v
		case "PATCHCTL_POLICY_VERSION":
			c.PolicyVersion = v
		case "PATCHCTL_MAX_UPLOAD_BYTES":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n <= 0 {
				ps = append(ps, Problem{Field: e.Name, Message: fmt.Sprintf("%q is not a positive byte count", v)})
				continue
			}
			c.Server.MaxUploadBytes = n
		case "PATCHCTL_SOAK":
			d, err := ParseDuration(v)
			if err != nil {
				ps = append(ps, Problem{Field: e.Name, Message: err.Error()})
				continue
			}
			c.Soak = Duration(d)
		}
	}
	return ps
}

var reName = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$`)

// Validate checks the structure of the configuration and returns every
// problem, each located in the file when one was read.
func (c *Config) Validate() Problems {
	var ps Problems
	add := func(field, format string, args ...any) {
		ps = append(ps, c.Locate(Problem{Field: field, Message: fmt.Sprintf(format, args...)}))
	}

	if c.SOP.DocumentID == "" {
		add("sop.document_id", "is required")
	}
	if _, ok := ReviewCycleDuration(c.SOP.ReviewCycle); !ok {
		add("sop.review_cycle", "%q is not a review cycle (want semi-annual, annual, quarterly, monthly or a duration)", c.SOP.ReviewCycle)
	}

	validPriority := func(p string) bool { return patchctl.Priority(p).Valid() }
	names := map[string]bool{}
	for i, r := range c.Classification.Rules {
		f := fmt.Sprintf("classification.rules[%d]", i)
		if r.Name == "" {
			add(f+".name", "is required")
		} else if names[r.Name] {
			add(f+".name", "%q is used by another rule", r.Name)
		}
		names[r.Name] = true
		if !validPriority(r.Priority) {
			add(f+".priority", "%q is not a priority (want emergency, high or routine)", r.Priority)
		}
		if strings.TrimSpace(r.When) == "" {
			add(f+".when", "is required (a CEL expression)")
		}
	}
	if !validPriority(c.Classification.Default) {
		add("classification.default", "%q is not a priority (want emergency, high or routine)", c.Classification.Default)
	}

	for _, d := range []struct {
		f string
		v Duration
	}{{"sla.emergency", c.SLA.Emergency}, {"sla.high", c.SLA.High}, {"sla.routine_fallback", c.SLA.RoutineFallback}} {
		if d.v <= 0 {
			add(d.f, "must be a positive duration")
		}
	}
	if c.SLA.Emergency > c.SLA.High {
		add("sla.emergency", "is longer than sla.high (%s > %s)", FormatDuration(c.SLA.Emergency.D()), FormatDuration(c.SLA.High.D()))
	}

	if len(c.Environments) < 2 {
		add("environments", "needs at least one non-production environment and one production environment (SOP-005: non-production first)")
	}
	envs := map[string]bool{}
	prod := 0
	for i, e := range c.Environments {
		f := fmt.Sprintf("environments[%d]", i)
		if !reName.MatchString(e.Name) {
			add(f+".name", "%q is not a name (lowercase letters, digits, '.', '_' and '-')", e.Name)
		}
		if envs[e.Name] {
			add(f+".name", "%q is listed twice", e.Name)
		}
		envs[e.Name] = true
		if e.Production {
			prod++
			if i != len(c.Environments)-1 {
				add(f+".production", "the production environment must come last (environments are in promotion order)")
			}
		}
	}
	if len(c.Environments) > 0 && prod != 1 {
		add("environments", "exactly one environment must be marked production: true (found %d)", prod)
	}

	clusters := map[string]bool{}
	mgmt, main := 0, 0
	for i, k := range c.Clusters {
		f := fmt.Sprintf("clusters[%d]", i)
		if !reName.MatchString(k.Name) {
			add(f+".name", "%q is not a name", k.Name)
		}
		if clusters[k.Name] {
			add(f+".name", "%q is listed twice", k.Name)
		}
		clusters[k.Name] = true
		switch k.Role {
		case ClusterManagement:
			mgmt++
		case ClusterMain:
			main++
		default:
			add(f+".role", "%q is not a cluster role (want management or main)", k.Role)
		}
		if len(k.NodePools) == 0 {
			add(f+".node_pools", "lists no node pool")
		}
		pools := map[string]bool{}
		for j, p := range k.NodePools {
			if pools[p] || p == "" {
				add(fmt.Sprintf("%s.node_pools[%d]", f, j), "%q is empty or listed twice", p)
			}
			pools[p] = true
		}
	}
	if main > 0 && mgmt == 0 {
		add("clusters", "main clusters need a management cluster to be upgraded and soaked first (SOP-005)")
	}
	if c.Soak < 0 {
		add("soak", "must not be negative")
	}
	if c.AnnounceLeadTime < 0 {
		add("announce_lead_time", "must not be negative")
	}

	wins := map[string]bool{}
	for i, w := range c.Windows {
		f := fmt.Sprintf("windows[%d]", i)
		if !reName.MatchString(w.Name) {
			add(f+".name", "%q is not a name", w.Name)
		}
		if wins[w.Name] {
			add(f+".name", "%q is listed twice", w.Name)
		}
		wins[w.Name] = true
		if strings.TrimSpace(w.RRule) == "" {
			add(f+".rrule", "is required (e.g. FREQ=WEEKLY;BYDAY=TU;BYHOUR=22)")
		}
		if w.Duration <= 0 {
			add(f+".duration", "must be a positive duration")
		}
		loc := time.UTC
		if w.Timezone != "" {
			l, err := time.LoadLocation(w.Timezone)
			if err != nil {
				add(f+".timezone", "%q is not a time zone", w.Timezone)
			} else {
				loc = l
			}
		}
		if w.Start != "" {
			if _, err := ParseLocalTime(w.Start, loc); err != nil {
				add(f+".start", "%v", err)
			}
		}
		for j, k := range w.Scope.Kinds {
			if !patchctl.Kind(k).Valid() {
				add(fmt.Sprintf("%s.scope.kinds[%d]", f, j), "%q is not a kind", k)
			}
		}
		for j, k := range w.Scope.Clusters {
			if !clusters[k] {
				add(fmt.Sprintf("%s.scope.clusters[%d]", f, j), "%q is not a configured cluster", k)
			}
		}
	}

	people := make([]string, 0, len(c.Roles))
	for p := range c.Roles {
		people = append(people, p)
	}
	sort.Strings(people)
	for _, p := range people {
		if !patchctl.Role(c.Roles[p]).Valid() {
			add("roles."+p, "%q is not a role (want viewer, engineer, oncall, lead or admin)", c.Roles[p])
		}
	}

	if c.Grouping.By != "asset_group_package_fix" && c.Grouping.By != "package_fix" && c.Grouping.By != "asset_package_fix" {
		add("grouping.by", "%q is not a grouping (want asset_group_package_fix, asset_package_fix or package_fix)", c.Grouping.By)
	}
	if c.Grouping.Kind != "application" && c.Grouping.Kind != "infrastructure" {
		add("grouping.kind", "%q is not a kind findings can be grouped into (want application or infrastructure)", c.Grouping.Kind)
	}
	for i, a := range c.Assets {
		f := fmt.Sprintf("assets[%d]", i)
		if a.Match == "" {
			add(f+".match", "is required (a glob over asset names)")
		}
	}
	if c.Feeds.Interval < 0 {
		add("feeds.interval", "must not be negative")
	}

	switch {
	case strings.HasPrefix(c.Server.Database, "sqlite:"), strings.HasPrefix(c.Server.Database, "postgres://"), strings.HasPrefix(c.Server.Database, "postgresql://"):
	default:
		add("server.database", "%q is not a database URL (want sqlite:FILE or postgres://...)", c.Server.Database)
	}
	switch c.Server.LogFormat {
	case "auto", "text", "json":
	default:
		add("server.log_format", "%q is not a log format (want auto, text or json)", c.Server.LogFormat)
	}
	switch c.Server.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		add("server.log_level", "%q is not a log level (want debug, info, warn or error)", c.Server.LogLevel)
	}
	if (c.Server.TLSCert == "") != (c.Server.TLSKey == "") {
		add("server.tls_cert", "tls_cert and tls_key go together")
	}

	a := c.Integrations.ArgoCD
	if a.RollbackMode != "argocd" && a.RollbackMode != "revert_pr" {
		add("integrations.argocd.rollback_mode", "%q is not a rollback mode (want argocd or revert_pr)", a.RollbackMode)
	}
	if a.RollbackMode == "revert_pr" && len(a.Applications) > 0 && a.DeployRepository == "" {
		add("integrations.argocd.deploy_repository", "is required when rollback_mode is revert_pr")
	}
	for i, app := range a.Applications {
		f := fmt.Sprintf("integrations.argocd.applications[%d]", i)
		if app.Name == "" || app.Application == "" {
			add(f, "name and application are required")
		}
		if !envs[app.Environment] {
			add(f+".environment", "%q is not a configured environment", app.Environment)
		}
	}
	return ps
}

// ParseLocalTime parses "2006-01-02T15:04" or "2006-01-02T15:04:05" (or with
// a space) in loc.
func ParseLocalTime(s string, loc *time.Location) (time.Time, error) {
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a local time (want YYYY-MM-DDTHH:MM)", s)
}
