package app

import (
	"net/http"

	"github.com/patchctl/patchctl/internal/web"
)

// mountUI mounts the web UI at / (see internal/web). Session cookies are
// Secure when the server serves TLS. Reports uploaded from the browser go
// through the same intake as the API's, within the same upload limit.
func (a *App) mountUI(mux *http.ServeMux) {
	ui, err := web.New(a.Service, web.Options{Logger: a.log, TLS: a.Config.Server.TLSCert != "",
		Intake: a.Intake, MaxUploadBytes: a.Config.Server.MaxUploadBytes})
	if err != nil {
		// The templates are embedded and parsed by the web package's
		// tests: failing here is a build defect, not a runtime condition.
		panic("web: " + err.Error())
	}
	ui.Mount(mux)
}
