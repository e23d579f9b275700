package app

import "net/http"

// mountTransports mounts the transports beside the REST API. Each one lives
// in its own file of this package (ui.go, hooks.go) and is listed here
// explicitly, in the order its routes are registered.
func (a *App) mountTransports(mux *http.ServeMux) {
	a.mountHooks(mux)
	a.mountUI(mux)
}
