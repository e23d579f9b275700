package web

import (
	"net/http"

	"github.com/patchctl/patchctl/internal/service"
)

// dashboardData is the dashboard page.
type dashboardData struct {
	base
	D     *service.Dashboard
	Chart complianceChart
}

// dashboard shows open patches by priority, overdue and due soon, SLA
// compliance, halted rollouts and recent activity. With ?fragment=sla (htmx
// polling) it returns only the overdue and due-soon section, so that the
// countdowns stay current without reloading the page.
func (u *UI) dashboard(w http.ResponseWriter, r *http.Request, s *service.WebSession) {
	d, err := u.svc.Dashboard(r.Context(), s.Actor)
	if err != nil {
		u.failed(w, r, err)
		return
	}
	data := dashboardData{D: d}
	if r.URL.Query().Get("fragment") == "sla" {
		data.base = base{Now: d.Now}
		u.renderTemplate(w, r, "dashboard", "sla-section", http.StatusOK, data)
		return
	}
	data.base = u.pageBase(w, r, s, "Dashboard", "dashboard")
	data.Now = d.Now
	data.Chart = newComplianceChart(d.Compliance)
	u.render(w, r, "dashboard", http.StatusOK, data)
}
