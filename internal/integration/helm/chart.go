package helm

import (
	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/textutil"
)

// Chart is the part of a chart's Chart.yaml patchctl uses.
type Chart struct {
	APIVersion   string // v1 (Helm 2 era) or v2
	Name         string
	Version      string // SemVer 2, as Helm 3 requires
	AppVersion   string // free text, as written (1.10 stays 1.10)
	Description  string
	Type         string // application or library; "" means application
	KubeVersion  string
	Dependencies []Dependency
}

type wireChart struct {
	APIVersion   text             `json:"apiVersion" yaml:"apiVersion"`
	Name         text             `json:"name" yaml:"name"`
	Version      text             `json:"version" yaml:"version"`
	AppVersion   text             `json:"appVersion" yaml:"appVersion"`
	Description  text             `json:"description" yaml:"description"`
	Type         text             `json:"type" yaml:"type"`
	KubeVersion  text             `json:"kubeVersion" yaml:"kubeVersion"`
	Dependencies []wireDependency `json:"dependencies" yaml:"dependencies"`
}

// ParseChart reads a Chart.yaml. Like `helm lint` it requires apiVersion,
// name and a SemVer version.
func ParseChart(data []byte) (*Chart, error) {
	var w wireChart
	if err := decode(data, "Chart.yaml", &w); err != nil {
		return nil, err
	}
	switch w.APIVersion {
	case "v1", "v2":
	case "":
		return nil, patchctl.FieldError("apiVersion", "missing")
	default:
		return nil, patchctl.FieldError("apiVersion", "%q is not a chart API version (v1 or v2)", textutil.Clip(string(w.APIVersion), 40))
	}
	if w.Name == "" {
		return nil, patchctl.FieldError("name", "missing")
	}
	if w.Version == "" {
		return nil, patchctl.FieldError("version", "missing")
	}
	if !IsSemver(string(w.Version)) {
		return nil, patchctl.FieldError("version", "%q is not a SemVer 2 version", textutil.Clip(string(w.Version), 40))
	}
	return &Chart{
		APIVersion:   string(w.APIVersion),
		Name:         string(w.Name),
		Version:      string(w.Version),
		AppVersion:   string(w.AppVersion),
		Description:  string(w.Description),
		Type:         string(w.Type),
		KubeVersion:  string(w.KubeVersion),
		Dependencies: dependencies(w.Dependencies),
	}, nil
}
