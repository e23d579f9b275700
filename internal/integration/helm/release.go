package helm

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/textutil"
)

// Dependency is a chart dependency (Chart.yaml dependencies, or the
// dependencies `helm get metadata` lists).
type Dependency struct {
	Name       string
	Version    string // a version or a range, as written
	Repository string
	Condition  string
	Enabled    bool // set only by `helm get metadata`
}

type wireDependency struct {
	Name       text `json:"name" yaml:"name"`
	Version    text `json:"version" yaml:"version"`
	Repository text `json:"repository" yaml:"repository"`
	Condition  text `json:"condition" yaml:"condition"`
	Enabled    bool `json:"enabled" yaml:"enabled"`
}

func dependencies(w []wireDependency) []Dependency {
	var out []Dependency
	for _, d := range w {
		out = append(out, Dependency{
			Name: string(d.Name), Version: string(d.Version), Repository: string(d.Repository),
			Condition: string(d.Condition), Enabled: d.Enabled,
		})
	}
	return out
}

// Metadata is `helm get metadata RELEASE -o json|yaml`: the deployed
// revision of a release and its chart.
type Metadata struct {
	Name         string // release name
	Namespace    string
	Revision     int
	Status       Status
	DeployedAt   time.Time // UTC
	Chart        string    // chart name
	Version      string    // chart version
	AppVersion   string
	Annotations  map[string]string
	Labels       map[string]string
	Dependencies []Dependency
}

type wireMetadata struct {
	Name         text             `json:"name" yaml:"name"`
	Chart        text             `json:"chart" yaml:"chart"`
	Version      text             `json:"version" yaml:"version"`
	AppVersion   text             `json:"appVersion" yaml:"appVersion"`
	Annotations  textMap          `json:"annotations" yaml:"annotations"`
	Labels       textMap          `json:"labels" yaml:"labels"`
	Dependencies []wireDependency `json:"dependencies" yaml:"dependencies"`
	Namespace    text             `json:"namespace" yaml:"namespace"`
	Revision     int              `json:"revision" yaml:"revision"`
	Status       text             `json:"status" yaml:"status"`
	DeployedAt   text             `json:"deployedAt" yaml:"deployedAt"`
}

// ParseMetadata reads `helm get metadata RELEASE -o json` or `-o yaml`.
func ParseMetadata(data []byte) (*Metadata, error) {
	var w wireMetadata
	if err := decode(data, "helm get metadata", &w); err != nil {
		return nil, err
	}
	if w.Name == "" {
		return nil, patchctl.FieldError("name", "missing release name")
	}
	if w.Revision < 1 {
		return nil, patchctl.FieldError("revision", "must be 1 or more, found %d", w.Revision)
	}
	deployed, err := ParseTime(string(w.DeployedAt))
	if err != nil {
		return nil, patchctl.FieldError("deployedAt", "%s", err.Error())
	}
	return &Metadata{
		Name:         string(w.Name),
		Namespace:    string(w.Namespace),
		Revision:     w.Revision,
		Status:       Status(w.Status),
		DeployedAt:   deployed,
		Chart:        string(w.Chart),
		Version:      string(w.Version),
		AppVersion:   string(w.AppVersion),
		Annotations:  w.Annotations.strings(),
		Labels:       w.Labels.strings(),
		Dependencies: dependencies(w.Dependencies),
	}, nil
}

// ReleaseStatus is the part of `helm status RELEASE -o json|yaml` patchctl
// uses. The manifest, values and hooks Helm also prints are not kept.
type ReleaseStatus struct {
	Name      string
	Namespace string
	// Revision is the release version; 0 when Helm printed none.
	Revision      int
	Status        Status
	Description   string
	FirstDeployed time.Time // UTC
	LastDeployed  time.Time // UTC
	ChartName     string
	ChartVersion  string
	AppVersion    string
	Notes         string
}

type wireStatus struct {
	Name      text `json:"name" yaml:"name"`
	Namespace text `json:"namespace" yaml:"namespace"`
	Version   int  `json:"version" yaml:"version"`
	Info      struct {
		FirstDeployed text `json:"first_deployed" yaml:"first_deployed"`
		LastDeployed  text `json:"last_deployed" yaml:"last_deployed"`
		Description   text `json:"description" yaml:"description"`
		Status        text `json:"status" yaml:"status"`
		Notes         text `json:"notes" yaml:"notes"`
	} `json:"info" yaml:"info"`
	Chart struct {
		Metadata struct {
			Name       text `json:"name" yaml:"name"`
			Version    text `json:"version" yaml:"version"`
			AppVersion text `json:"appVersion" yaml:"appVersion"`
		} `json:"metadata" yaml:"metadata"`
	} `json:"chart" yaml:"chart"`
}

// ParseStatus reads `helm status RELEASE -o json` or `-o yaml`.
func ParseStatus(data []byte) (*ReleaseStatus, error) {
	var w wireStatus
	if err := decode(data, "helm status", &w); err != nil {
		return nil, err
	}
	if w.Name == "" {
		return nil, patchctl.FieldError("name", "missing release name")
	}
	if w.Version < 0 {
		return nil, patchctl.FieldError("version", "must not be negative, found %d", w.Version)
	}
	first, err := ParseTime(string(w.Info.FirstDeployed))
	if err != nil {
		return nil, patchctl.FieldError("info.first_deployed", "%s", err.Error())
	}
	last, err := ParseTime(string(w.Info.LastDeployed))
	if err != nil {
		return nil, patchctl.FieldError("info.last_deployed", "%s", err.Error())
	}
	return &ReleaseStatus{
		Name:          string(w.Name),
		Namespace:     string(w.Namespace),
		Revision:      w.Version,
		Status:        Status(w.Info.Status),
		Description:   string(w.Info.Description),
		FirstDeployed: first,
		LastDeployed:  last,
		ChartName:     string(w.Chart.Metadata.Name),
		ChartVersion:  string(w.Chart.Metadata.Version),
		AppVersion:    string(w.Chart.Metadata.AppVersion),
		Notes:         string(w.Info.Notes),
	}, nil
}

// Release is one entry of `helm list`. With --short only Name is set.
type Release struct {
	Name         string
	Namespace    string
	Revision     int
	Updated      time.Time // UTC
	Status       Status
	Chart        string // "name-version"
	ChartName    string
	ChartVersion string
	AppVersion   string
}

// listEntry is an element of `helm list` output: an object, or with
// --short a bare release name.
type listEntry struct {
	short   bool
	name    text
	release wireRelease
}

// wireRelease mirrors `helm list` objects. Helm prints revision as a
// string and updated preformatted with Go's time.String.
type wireRelease struct {
	Name       text `json:"name" yaml:"name"`
	Namespace  text `json:"namespace" yaml:"namespace"`
	Revision   text `json:"revision" yaml:"revision"`
	Updated    text `json:"updated" yaml:"updated"`
	Status     text `json:"status" yaml:"status"`
	Chart      text `json:"chart" yaml:"chart"`
	AppVersion text `json:"app_version" yaml:"app_version"`
}

func (e *listEntry) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		e.short = true
		return e.name.UnmarshalJSON(b)
	}
	return json.Unmarshal(b, &e.release)
}

func (e *listEntry) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		e.short = true
		return e.name.UnmarshalYAML(n)
	}
	return n.Decode(&e.release)
}

// ParseList reads `helm list -o json|yaml`, with or without --short.
func ParseList(data []byte) ([]Release, error) {
	var wire []listEntry
	if err := decode(data, "helm list", &wire); err != nil {
		return nil, err
	}
	out := make([]Release, 0, len(wire))
	for i, e := range wire {
		field := func(name string) string { return fmt.Sprintf("[%d].%s", i, name) }
		if e.short {
			if e.name == "" {
				return nil, patchctl.FieldError(fmt.Sprintf("[%d]", i), "empty release name")
			}
			out = append(out, Release{Name: string(e.name)})
			continue
		}
		w := e.release
		if w.Name == "" {
			return nil, patchctl.FieldError(field("name"), "missing release name")
		}
		r := Release{
			Name:       string(w.Name),
			Namespace:  string(w.Namespace),
			Status:     Status(w.Status),
			Chart:      string(w.Chart),
			AppVersion: string(w.AppVersion),
		}
		if s := strings.TrimSpace(string(w.Revision)); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				return nil, patchctl.FieldError(field("revision"), "%q is not a revision number", textutil.Clip(s, 40))
			}
			r.Revision = n
		}
		var err error
		// helm list prints "-" for a release that has no deploy time.
		if u := strings.TrimSpace(string(w.Updated)); u != "-" {
			if r.Updated, err = ParseTime(u); err != nil {
				return nil, patchctl.FieldError(field("updated"), "%s", err.Error())
			}
		}
		r.ChartName, r.ChartVersion = SplitChart(r.Chart)
		out = append(out, r)
	}
	return out, nil
}
