// Package reportgen writes large, realistic scanner reports for benchmarks
// by using real reports as templates: it takes the vulnerability entries of
// a Trivy JSON report and repeats them with varied ids, packages and
// versions, keeping their real size and shape (descriptions, references,
// CVSS blocks). Reports are streamed, so a million findings need no memory.
package reportgen

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
)

// Template holds the vulnerability entries of a Trivy report.
type Template struct {
	entries []map[string]json.RawMessage
}

// Load reads a Trivy JSON report used as template.
func Load(r io.Reader) (*Template, error) {
	var doc struct {
		Results []struct {
			Vulnerabilities []map[string]json.RawMessage `json:"Vulnerabilities"`
		} `json:"Results"`
	}
	if err := json.NewDecoder(r).Decode(&doc); err != nil {
		return nil, fmt.Errorf("template: %w", err)
	}
	t := &Template{}
	for _, res := range doc.Results {
		t.entries = append(t.entries, res.Vulnerabilities...)
	}
	if len(t.entries) == 0 {
		return nil, fmt.Errorf("template: the report has no vulnerabilities")
	}
	return t, nil
}

// Merge adds another template's entries.
func (t *Template) Merge(o *Template) { t.entries = append(t.entries, o.entries...) }

// Entries is the number of template entries.
func (t *Template) Entries() int { return len(t.entries) }

// Write writes a Trivy image report for asset with n findings. Findings are
// spread over packages so that grouping produces a realistic number of
// patches; ids are deterministic for a seed, so writing the same asset and
// seed twice gives the same report (a re-import).
func (t *Template) Write(w io.Writer, asset string, n int, seed uint64) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	fmt.Fprintf(bw, `{"SchemaVersion":2,"ArtifactName":%q,"ArtifactType":"container_image","Metadata":{"RepoTags":[%q]},"Results":[{"Target":%q,"Class":"os-pkgs","Type":"debian","Vulnerabilities":[`,
		asset, asset, asset+" (debian 12.5)")
	pkgs := max(n/10, 1)
	for i := range n {
		if i > 0 {
			bw.WriteByte(',')
		}
		e := t.entries[r.IntN(len(t.entries))]
		pkg := i % pkgs
		out := make(map[string]json.RawMessage, len(e))
		for k, v := range e {
			out[k] = v
		}
		out["VulnerabilityID"] = quote(fmt.Sprintf("CVE-2031-%05d", (int(seed%7919)*131+i)%100000))
		out["PkgName"] = quote("libgen" + strconv.Itoa(pkg))
		out["PkgID"] = quote("libgen" + strconv.Itoa(pkg) + "@1." + strconv.Itoa(pkg%7) + ".0")
		out["InstalledVersion"] = quote("1." + strconv.Itoa(pkg%7) + ".0")
		if i%9 == 0 {
			delete(out, "FixedVersion")
		} else {
			out["FixedVersion"] = quote("1." + strconv.Itoa(pkg%7) + ".1")
		}
		delete(out, "PkgIdentifier")
		b, err := json.Marshal(out)
		if err != nil {
			return err
		}
		bw.Write(b)
	}
	bw.WriteString(`]}]}`)
	return bw.Flush()
}

func quote(s string) json.RawMessage { return json.RawMessage(strconv.Quote(s)) }
