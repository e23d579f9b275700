package web

import (
	"net/http"
	"strconv"

	"github.com/patchctl/patchctl/internal/service"
	"github.com/patchctl/patchctl/internal/store"
)

// deliveryData is one webhook delivery's page.
type deliveryData struct {
	base
	D *store.Delivery
}

// delivery shows one recorded webhook delivery: who sent what, when, what
// it changed or why it changed nothing.
func (u *UI) delivery(w http.ResponseWriter, r *http.Request, s *service.WebSession) {
	id := pathID(r)
	if id == 0 {
		u.noSuch(w, r, "delivery")
		return
	}
	dl, err := u.svc.Delivery(r.Context(), s.Actor, id)
	if err != nil {
		u.failed(w, r, err)
		return
	}
	u.render(w, r, "delivery", http.StatusOK, deliveryData{base: u.pageBase(w, r, s, "Delivery #"+strconv.FormatInt(id, 10), "deliveries"), D: dl})
}
