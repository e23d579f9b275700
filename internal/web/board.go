package web

import (
	"net/http"
	"net/url"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/service"
)

// perColumn is how many patches a board column shows.
const perColumn = 20

// boardData is the board page.
type boardData struct {
	base
	B    *service.Board
	Tabs []boardTab
}

// boardTab is one board: a kind, and for infrastructure with or without
// downtime (each has its own lifecycle).
type boardTab struct {
	Label    string
	URL      string
	Current  bool
	Kind     patchctl.Kind
	Downtime bool
}

// board shows one column per lifecycle state of the chosen kind
// (?kind=application|kubernetes|infrastructure, &downtime=true for the
// infrastructure-with-downtime lifecycle).
func (u *UI) board(w http.ResponseWriter, r *http.Request, s *service.WebSession) {
	kind := patchctl.Kind(r.URL.Query().Get("kind"))
	if kind == "" {
		kind = patchctl.KindApplication
	}
	downtime := r.URL.Query().Get("downtime") == "true"
	b, err := u.svc.Board(r.Context(), s.Actor, kind, downtime, perColumn)
	if err != nil {
		u.failed(w, r, err)
		return
	}
	d := boardData{base: u.pageBase(w, r, s, "Board · "+label(string(kind)), "board"), B: b}
	for _, t := range []boardTab{
		{Label: "Application", Kind: patchctl.KindApplication},
		{Label: "Kubernetes", Kind: patchctl.KindKubernetes},
		{Label: "Infrastructure", Kind: patchctl.KindInfrastructure},
		{Label: "Infrastructure with downtime", Kind: patchctl.KindInfrastructure, Downtime: true},
	} {
		v := url.Values{"kind": {string(t.Kind)}}
		if t.Downtime {
			v.Set("downtime", "true")
		}
		t.URL = "/patches/board?" + v.Encode()
		t.Current = t.Kind == b.Kind && t.Downtime == b.Downtime
		d.Tabs = append(d.Tabs, t)
	}
	u.render(w, r, "board", http.StatusOK, d)
}
