package store

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/textutil"
)

// Delivery is one verified webhook delivery, recorded in the transaction
// that applied its effects: the record and the effects commit together or
// not at all. (Source, DeliveryID) is unique, which makes deliveries
// idempotent: a replay finds its record and changes nothing.
type Delivery struct {
	ID int64 `json:"id"`
	// Source is the sender: github or argocd.
	Source string `json:"source"`
	// DeliveryID is the sender's id of the delivery: X-GitHub-Delivery,
	// or for Argo CD (which sends none) the SHA-256 of the body.
	DeliveryID string `json:"delivery_id"`
	// Event and Action name what happened: pull_request/opened,
	// argocd/on-deployed.
	Event      string    `json:"event"`
	Action     string    `json:"action,omitempty"`
	ReceivedAt time.Time `json:"received_at"`
	// Status is processed, ignored, unmatched or failed.
	Status string `json:"status"`
	// PatchKeys are the patches the delivery changed or was matched to.
	PatchKeys  []string `json:"patches,omitempty"`
	Repository string   `json:"repository,omitempty"`
	// Summary says what was done, or why nothing was.
	Summary string `json:"summary,omitempty"`
	// Error is the client-safe message of a failed delivery.
	Error string `json:"error,omitempty"`
}

// Delivery statuses.
const (
	// DeliveryProcessed: the delivery was matched and its evidence recorded
	// (transitions attempted; a gate refusal is still processed).
	DeliveryProcessed = "processed"
	// DeliveryIgnored: an event patchctl does not act on, acknowledged.
	DeliveryIgnored = "ignored"
	// DeliveryUnmatched: an event about something patchctl does not know
	// (an unconfigured repository or application, no matching patch).
	DeliveryUnmatched = "unmatched"
	// DeliveryFailed: applying it failed; nothing but this record was
	// written, and a redelivery with the same id is processed again.
	DeliveryFailed = "failed"
)

// DeliveryStatuses lists every status.
var DeliveryStatuses = []string{DeliveryProcessed, DeliveryIgnored, DeliveryUnmatched, DeliveryFailed}

const deliveryColumns = `id, source, delivery_id, event, action, received_at, status, patch_keys, repository, summary, error`

func scanDelivery(r rowScanner) (*Delivery, error) {
	var d Delivery
	var at tscan
	var keys string
	if err := r.Scan(&d.ID, &d.Source, &d.DeliveryID, &d.Event, &d.Action, &at, &d.Status, &keys, &d.Repository, &d.Summary, &d.Error); err != nil {
		return nil, err
	}
	d.ReceivedAt = at.t
	d.PatchKeys = strings.Fields(keys)
	return &d, nil
}

// SaveDelivery records d and sets its ID. A record with the same source
// and delivery id makes it fail with CodeConflict (the unique key decides
// between concurrent deliveries of the same id).
func (tx *Tx) SaveDelivery(ctx context.Context, d *Delivery) error {
	err := tx.row(ctx, `INSERT INTO webhook_deliveries (source, delivery_id, event, action, received_at, status, patch_keys, repository, summary, error)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		d.Source, d.DeliveryID, d.Event, d.Action, tx.ts(d.ReceivedAt), d.Status, strings.Join(d.PatchKeys, " "),
		d.Repository, textutil.Prefix(d.Summary, 4000), textutil.Prefix(d.Error, 2000)).Scan(&d.ID)
	d.ReceivedAt = Micro(d.ReceivedAt)
	if err := tx.db.wrap(err); patchctl.ErrorCode(err) == patchctl.CodeConflict {
		return patchctl.Errorf(patchctl.CodeConflict, "%s delivery %s is already recorded", d.Source, d.DeliveryID)
	} else if err != nil {
		return err
	}
	return nil
}

// ReplaceFailedDelivery overwrites the record of a delivery that failed
// with d (a redelivery that was processed), keeping its ID. It fails with
// CodeConflict when there is no failed record of that source and id: a
// concurrent redelivery replaced it first.
func (tx *Tx) ReplaceFailedDelivery(ctx context.Context, d *Delivery) error {
	err := tx.row(ctx, `UPDATE webhook_deliveries SET event = ?, action = ?, received_at = ?, status = ?, patch_keys = ?,
		repository = ?, summary = ?, error = ? WHERE source = ? AND delivery_id = ? AND status = 'failed' RETURNING id`,
		d.Event, d.Action, tx.ts(d.ReceivedAt), d.Status, strings.Join(d.PatchKeys, " "), d.Repository,
		textutil.Prefix(d.Summary, 4000), textutil.Prefix(d.Error, 2000), d.Source, d.DeliveryID).Scan(&d.ID)
	d.ReceivedAt = Micro(d.ReceivedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return patchctl.Errorf(patchctl.CodeConflict, "%s delivery %s is already recorded", d.Source, d.DeliveryID)
	}
	return tx.db.wrap(err)
}

// Delivery returns the record of a source's delivery id (CodeNotFound when
// there is none).
func (x q) Delivery(ctx context.Context, source, deliveryID string) (*Delivery, error) {
	d, err := scanDelivery(x.row(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries WHERE source = ? AND delivery_id = ?`, source, deliveryID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, patchctl.NotFound(source+" delivery", deliveryID)
	}
	return d, x.db.wrap(err)
}

// DeliveryByID returns a delivery by its row id.
func (x q) DeliveryByID(ctx context.Context, id int64) (*Delivery, error) {
	d, err := scanDelivery(x.row(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, patchctl.NotFound("delivery", strconv.FormatInt(id, 10))
	}
	return d, x.db.wrap(err)
}

// DeliveryFilter selects deliveries; zero values select everything.
type DeliveryFilter struct {
	Source string
	Status string
	Event  string
	// PatchKey selects deliveries matched to that patch.
	PatchKey   string
	Repository string
	// BeforeID pages backwards: deliveries with a smaller id.
	BeforeID int64
	Limit    int
}

// Deliveries lists deliveries, newest first.
func (x q) Deliveries(ctx context.Context, f DeliveryFilter) ([]Delivery, error) {
	query := `SELECT ` + deliveryColumns + ` FROM webhook_deliveries WHERE 1 = 1`
	var args []any
	add := func(cond string, v any) {
		query += ` AND ` + cond
		args = append(args, v)
	}
	if f.Source != "" {
		add(`source = ?`, f.Source)
	}
	if f.Status != "" {
		add(`status = ?`, f.Status)
	}
	if f.Event != "" {
		add(`event = ?`, f.Event)
	}
	if f.Repository != "" {
		add(`repository = ?`, f.Repository)
	}
	if f.PatchKey != "" {
		// patch_keys is space-separated; pad it so that PATCH-4 does not
		// match PATCH-42.
		add(`(' ' || patch_keys || ' ') LIKE ? ESCAPE '\'`, "% "+likeEscape(f.PatchKey)+" %")
	}
	if f.BeforeID > 0 {
		add(`id < ?`, f.BeforeID)
	}
	limit := f.Limit
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	query += ` ORDER BY id DESC LIMIT ?`
	args = append(args, limit)
	rows, err := x.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Delivery{}
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *d)
	}
	return out, x.db.wrap(rows.Err())
}

// OpenPatchesByVersion returns the open patches that ship one of versions
// (their version), or whose merge evidence names one (a merged pull
// request of a deployment repository that refers to the patch), by id.
func (x q) OpenPatchesByVersion(ctx context.Context, versions ...string) ([]*patchctl.Patch, error) {
	var vs []string
	for _, v := range versions {
		if v != "" {
			vs = append(vs, v)
		}
	}
	if len(vs) == 0 {
		return nil, nil
	}
	ph := placeholders(len(vs))
	args := append([]any{true}, anys(vs)...)
	args = append(args, string(patchctl.EvidenceMerge))
	args = append(args, anys(vs)...)
	return x.patches(ctx, `SELECT `+patchColumns+` FROM patches WHERE is_open = ? AND (version IN (`+ph+`)
		OR id IN (SELECT patch_id FROM evidence WHERE kind = ? AND version IN (`+ph+`))) ORDER BY id`, args...)
}

// EvidenceByVersion lists evidence of one kind, environment and version
// across every patch, newest first (at most limit).
func (x q) EvidenceByVersion(ctx context.Context, kind patchctl.EvidenceKind, env, version string, limit int) ([]patchctl.Evidence, error) {
	if limit <= 0 {
		limit = 20
	}
	return x.evidence(ctx, `SELECT `+evidenceColumns+` FROM evidence WHERE kind = ? AND version = ? AND environment = ? ORDER BY id DESC LIMIT ?`,
		kind, version, env, limit)
}

// ScheduleTimerOnce creates the timer (kind, subject) unless one exists,
// whatever its state, and reports whether it created it. Unlike
// ScheduleTimer it never moves or revives an existing timer: work keyed by
// its subject (one rollback per outbox message) runs once.
func (tx *Tx) ScheduleTimerOnce(ctx context.Context, kind, subject string, due time.Time, payload any, now time.Time) (bool, error) {
	res, err := tx.exec(ctx, `INSERT INTO timers (kind, subject, due_at, payload, state, created_at) VALUES (?, ?, ?, ?, 'pending', ?)
		ON CONFLICT (kind, subject) DO NOTHING`, kind, subject, tx.ts(due), timerPayload(payload), tx.ts(now))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// DeleteFinishedTimers removes the done timers of kind: the past
// occurrences of a periodic timer.
func (tx *Tx) DeleteFinishedTimers(ctx context.Context, kind string) error {
	_, err := tx.exec(ctx, `DELETE FROM timers WHERE kind = ? AND state = 'done'`, kind)
	return err
}

// OutboxSince lists the messages of topic created at or after since,
// oldest first (at most limit).
func (x q) OutboxSince(ctx context.Context, topic string, since time.Time, limit int) ([]OutboxMessage, error) {
	if limit <= 0 {
		limit = 100
	}
	return x.outbox(ctx, `SELECT `+outboxColumns+` FROM outbox WHERE topic = ? AND created_at >= ? ORDER BY id LIMIT ?`,
		topic, x.ts(since), limit)
}
