package web

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/service"
	"github.com/patchctl/patchctl/internal/store"
)

// auditPage is how many events the audit page shows at a time.
const auditPage = 50

// verifyEvery is how long a verification of the audit chain is shown
// before the page verifies again. Verifying reads and hashes every event,
// which is too slow to do on every view of a large log.
const verifyEvery = time.Minute

// verifyCache keeps the latest verification of the audit chain.
type verifyCache struct {
	mu   sync.Mutex
	last *store.Verification
	at   time.Time
}

// get returns a verification no older than verifyEvery (or a fresh one when
// force is set), and when it was made.
func (c *verifyCache) get(ctx context.Context, svc *service.Service, a patchctl.Actor, force bool) (*store.Verification, time.Time, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := svc.Now()
	if c.last != nil && !force && now.Sub(c.at) < verifyEvery && now.Sub(c.at) >= 0 {
		return c.last, c.at, nil
	}
	v, err := svc.VerifyAudit(ctx, a)
	if err != nil {
		return nil, time.Time{}, err
	}
	c.last, c.at = v, now
	return v, now, nil
}

// auditFilterFields are the page's filter inputs: what it keeps when it
// moves to newer or older events.
var auditFilterFields = []string{"subject", "actor", "action"}

// auditData is the audit page.
type auditData struct {
	base
	Filter     *form
	Events     []patchctl.AuditEvent
	Verify     *store.Verification
	VerifiedAt time.Time
	NewerURL   string
	OlderURL   string
	Actions    []string
}

// knownActions are offered as suggestions in the action filter.
var knownActions = []string{
	"patch.create", "patch.transition", "patch.evidence", "patch.link", "patch.unlink", "patch.priority", "patch.edit",
	"patch.wave", "patch.halt", "patch.resume", "patch.retry", "patch.abort", "patch.window",
	"sla.approaching", "sla.breached", "session.sign_in", "session.sign_out", "token.create", "token.revoke", "release.record",
}

// audit shows the audit log, newest first, with filters (subject, actor,
// action) and paging, and whether the hash chain verifies.
func (u *UI) audit(w http.ResponseWriter, r *http.Request, s *service.WebSession) {
	q := r.URL.Query()
	f := newForm(q)
	filter := store.AuditFilter{Subject: strings.TrimSpace(f.Get("subject")), Actor: strings.TrimSpace(f.Get("actor")),
		Action: strings.TrimSpace(f.Get("action")), Limit: auditPage, Desc: true}
	seqParam := func(name string) int64 {
		v := f.Get(name)
		if v == "" {
			return 0
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			f.Errors[name] = "not an event number"
		}
		return n
	}
	filter.BeforeSeq = seqParam("before")
	if after := seqParam("after"); after > 0 {
		// Newer events: read forward from after, show newest first.
		filter.AfterSeq, filter.Desc, filter.BeforeSeq = after, false, 0
	}
	d := auditData{Filter: f, Actions: knownActions}
	status := http.StatusOK
	if len(f.Errors) == 0 {
		ev, err := u.svc.AuditEvents(r.Context(), s.Actor, filter)
		if err != nil {
			u.failed(w, r, err)
			return
		}
		if !filter.Desc {
			slices.Reverse(ev)
		}
		d.Events = ev
		// The same filters, paged from an event.
		pagedFrom := func(dir string, seq int64) string {
			return listURL("/audit", q, auditFilterFields, dir, strconv.FormatInt(seq, 10))
		}
		if len(ev) > 0 {
			newest, oldest := ev[0].Seq, ev[len(ev)-1].Seq
			if filter.BeforeSeq > 0 || (filter.AfterSeq > 0 && len(ev) == auditPage) {
				d.NewerURL = pagedFrom("after", newest)
			}
			if oldest > 1 && (len(ev) == auditPage || filter.AfterSeq > 0) {
				d.OlderURL = pagedFrom("before", oldest)
			}
		} else if filter.BeforeSeq > 0 {
			d.NewerURL = pagedFrom("after", filter.BeforeSeq-1)
		}
	} else {
		status = http.StatusBadRequest
	}
	v, at, err := u.verified.get(r.Context(), u.svc, s.Actor, q.Get("verify") != "")
	if err != nil {
		u.failed(w, r, err)
		return
	}
	d.Verify, d.VerifiedAt = v, at
	d.base = u.pageBase(w, r, s, "Audit log", "audit")
	u.render(w, r, "audit", status, d)
}
