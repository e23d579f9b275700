package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/textutil"
)

// Timer is a durable timer: work due at a time, claimed by one replica under
// a lease so that a crashed replica's work is picked up by another.
type Timer struct {
	ID        int64           `json:"id"`
	Kind      string          `json:"kind"`
	Subject   string          `json:"subject"`
	DueAt     time.Time       `json:"due_at"`
	Payload   json.RawMessage `json:"payload,omitempty"`
	State     string          `json:"state"`
	ClaimedBy string          `json:"claimed_by,omitempty"`
	Attempts  int             `json:"attempts"`
	LastError string          `json:"last_error,omitempty"`
}

// Timer states.
const (
	TimerPending = "pending"
	TimerDone    = "done"
	TimerFailed  = "failed"
)

// ScheduleTimer creates the timer (kind, subject) or moves it to a new due
// time and payload; a timer is unique per kind and subject, so rescheduling
// an SLA reminder replaces the old one.
func (tx *Tx) ScheduleTimer(ctx context.Context, kind, subject string, due time.Time, payload any, now time.Time) error {
	_, err := tx.exec(ctx, `INSERT INTO timers (kind, subject, due_at, payload, state, created_at) VALUES (?, ?, ?, ?, 'pending', ?)
		ON CONFLICT (kind, subject) DO UPDATE SET due_at = excluded.due_at, payload = excluded.payload, state = 'pending',
		claimed_by = '', lease_until = NULL, attempts = 0, last_error = '', done_at = NULL`,
		kind, subject, tx.ts(due), timerPayload(payload), tx.ts(now))
	return err
}

// timerPayload encodes a timer's payload; no payload is {}.
func timerPayload(payload any) any {
	if payload == nil {
		return "{}"
	}
	return jsonArg(payload)
}

// CancelTimer removes the timer (kind, subject) if it exists.
func (tx *Tx) CancelTimer(ctx context.Context, kind, subject string) error {
	_, err := tx.exec(ctx, `DELETE FROM timers WHERE kind = ? AND subject = ?`, kind, subject)
	return err
}

// CancelTimers removes every timer of subject whose kind starts with prefix.
func (tx *Tx) CancelTimers(ctx context.Context, subject, kindPrefix string) error {
	_, err := tx.exec(ctx, `DELETE FROM timers WHERE subject = ? AND kind LIKE ? ESCAPE '\'`, subject, likeEscape(kindPrefix)+"%")
	return err
}

// ClaimTimers claims up to limit due timers for holder until now+lease:
// pending timers due by now whose lease is absent or expired. On PostgreSQL
// rows are claimed with FOR UPDATE SKIP LOCKED so replicas never claim the
// same timer; on SQLite the immediate transaction is the lock.
func (db *DB) ClaimTimers(ctx context.Context, holder string, now time.Time, lease time.Duration, limit int) ([]Timer, error) {
	var out []Timer
	err := db.InTx(ctx, func(tx *Tx) error {
		lock := ""
		if db.engine == Postgres {
			lock = " FOR UPDATE SKIP LOCKED"
		}
		rows, err := tx.query(ctx, `SELECT id, kind, subject, due_at, payload, attempts FROM timers
			WHERE state = 'pending' AND due_at <= ? AND (lease_until IS NULL OR lease_until < ?)
			ORDER BY due_at, id LIMIT ?`+lock, tx.ts(now), tx.ts(now), limit)
		if err != nil {
			return err
		}
		for rows.Next() {
			var t Timer
			var due tscan
			var payload string
			if err := rows.Scan(&t.ID, &t.Kind, &t.Subject, &due, &payload, &t.Attempts); err != nil {
				rows.Close()
				return err
			}
			t.DueAt, t.Payload, t.State, t.ClaimedBy = due.t, json.RawMessage(payload), TimerPending, holder
			out = append(out, t)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		ids := make([]int64, len(out))
		for i := range out {
			out[i].Attempts++
			ids[i] = out[i].ID
		}
		return tx.eachIDs(ctx, ids, `UPDATE timers SET claimed_by = ?, lease_until = ?, attempts = attempts + 1 WHERE id IN (%s)`,
			holder, tx.ts(now.Add(lease)))
	})
	return out, err
}

// FinishTimer marks a claimed timer done, inside the transaction that did its
// work, so the work and its completion commit together. It refuses (conflict)
// when the timer is no longer claimed by holder: the lease expired and
// another replica took it over, or it was rescheduled meanwhile.
func (tx *Tx) FinishTimer(ctx context.Context, id int64, holder string, now time.Time) error {
	res, err := tx.exec(ctx, `UPDATE timers SET state = 'done', done_at = ?, lease_until = NULL WHERE id = ? AND claimed_by = ? AND state = 'pending'`,
		tx.ts(now), id, holder)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return patchctl.Errorf(patchctl.CodeConflict, "timer %d is no longer held by %s", id, holder)
	}
	return nil
}

// RetryTimer releases a claimed timer after a failure, to run again at next;
// after maxAttempts it is marked failed and left for a person to look at.
func (db *DB) RetryTimer(ctx context.Context, id int64, holder string, next time.Time, cause error, maxAttempts int) error {
	q := db.reader()
	return db.Exec(ctx, `UPDATE timers SET due_at = ?, lease_until = NULL, claimed_by = '', last_error = ?,
		state = CASE WHEN attempts >= ? THEN 'failed' ELSE 'pending' END WHERE id = ? AND claimed_by = ?`,
		q.ts(next), textutil.Prefix(cause.Error(), 2000), maxAttempts, id, holder)
}

// Timers lists timers, soonest first; kindPrefix and subject filter.
func (x q) Timers(ctx context.Context, kindPrefix, subject string, pendingOnly bool, limit int) ([]Timer, error) {
	query := `SELECT id, kind, subject, due_at, payload, state, claimed_by, attempts, last_error FROM timers WHERE 1 = 1`
	var args []any
	if kindPrefix != "" {
		query += ` AND kind LIKE ? ESCAPE '\'`
		args = append(args, likeEscape(kindPrefix)+"%")
	}
	if subject != "" {
		query += ` AND subject = ?`
		args = append(args, subject)
	}
	if pendingOnly {
		query += ` AND state = 'pending'`
	}
	if limit <= 0 {
		limit = 100
	}
	query += ` ORDER BY due_at, id LIMIT ?`
	args = append(args, limit)
	rows, err := x.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Timer
	for rows.Next() {
		var t Timer
		var due tscan
		var payload string
		if err := rows.Scan(&t.ID, &t.Kind, &t.Subject, &due, &payload, &t.State, &t.ClaimedBy, &t.Attempts, &t.LastError); err != nil {
			return nil, err
		}
		t.DueAt, t.Payload = due.t, json.RawMessage(payload)
		out = append(out, t)
	}
	return out, x.db.wrap(rows.Err())
}

// AcquireLease takes or renews the named lease for holder until now+ttl. It
// succeeds when the lease is free, expired, or already held by holder.
func (db *DB) AcquireLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (bool, error) {
	got := false
	err := db.InTx(ctx, func(tx *Tx) error {
		var cur string
		var exp tscan
		err := tx.row(ctx, `SELECT holder, expires_at FROM leases WHERE name = ?`+tx.forUpdate(), name).Scan(&cur, &exp)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			_, err = tx.exec(ctx, `INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING`,
				name, holder, tx.ts(now.Add(ttl)))
			if err != nil {
				return err
			}
			// A concurrent replica may have inserted first; read who won.
			if err := tx.row(ctx, `SELECT holder FROM leases WHERE name = ?`, name).Scan(&cur); err != nil {
				return err
			}
			got = cur == holder
			return nil
		case err != nil:
			return err
		}
		if cur != holder && exp.t.After(now) {
			return nil
		}
		_, err = tx.exec(ctx, `UPDATE leases SET holder = ?, expires_at = ? WHERE name = ?`, holder, tx.ts(now.Add(ttl)), name)
		got = err == nil
		return err
	})
	return got, err
}

// ReleaseLease gives up the lease if holder holds it.
func (db *DB) ReleaseLease(ctx context.Context, name, holder string) error {
	return db.Exec(ctx, `DELETE FROM leases WHERE name = ? AND holder = ?`, name, holder)
}

// OutboxMessage is a notification waiting to be delivered. Messages are
// written in the transaction of the change they announce, so a change is
// never announced without happening or happening without being announced.
type OutboxMessage struct {
	ID          int64           `json:"id"`
	Topic       string          `json:"topic"`
	Subject     string          `json:"subject"`
	Payload     json.RawMessage `json:"payload"`
	CreatedAt   time.Time       `json:"created_at"`
	Attempts    int             `json:"attempts"`
	DeliveredAt *time.Time      `json:"delivered_at,omitempty"`
	LastError   string          `json:"last_error,omitempty"`
}

// Enqueue writes an outbox message in this transaction.
func (tx *Tx) Enqueue(ctx context.Context, topic, subject string, payload any, now time.Time) (int64, error) {
	var id int64
	err := tx.row(ctx, `INSERT INTO outbox (topic, subject, payload, created_at, next_attempt_at) VALUES (?, ?, ?, ?, ?) RETURNING id`,
		topic, subject, jsonArg(payload), tx.ts(now), tx.ts(now)).Scan(&id)
	return id, tx.db.wrap(err)
}

// OutboxFilter selects outbox messages.
type OutboxFilter struct {
	Topic       string
	Subject     string
	Undelivered bool
	Limit       int
}

// Outbox lists messages, newest first.
func (x q) Outbox(ctx context.Context, f OutboxFilter) ([]OutboxMessage, error) {
	query := `SELECT ` + outboxColumns + ` FROM outbox WHERE 1 = 1`
	var args []any
	if f.Topic != "" {
		if strings.HasSuffix(f.Topic, "*") {
			query += ` AND topic LIKE ? ESCAPE '\'`
			args = append(args, likeEscape(strings.TrimSuffix(f.Topic, "*"))+"%")
		} else {
			query += ` AND topic = ?`
			args = append(args, f.Topic)
		}
	}
	if f.Subject != "" {
		query += ` AND subject = ?`
		args = append(args, f.Subject)
	}
	if f.Undelivered {
		query += ` AND delivered_at IS NULL`
	}
	limit := f.Limit
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	return x.outbox(ctx, query+` ORDER BY id DESC LIMIT ?`, append(args, limit)...)
}

const outboxColumns = `id, topic, subject, payload, created_at, attempts, delivered_at, last_error`

// outbox runs a query of outboxColumns.
func (x q) outbox(ctx context.Context, query string, args ...any) ([]OutboxMessage, error) {
	rows, err := x.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []OutboxMessage
	for rows.Next() {
		var m OutboxMessage
		var created, delivered tscan
		var payload string
		if err := rows.Scan(&m.ID, &m.Topic, &m.Subject, &payload, &created, &m.Attempts, &delivered, &m.LastError); err != nil {
			return nil, err
		}
		m.Payload, m.CreatedAt, m.DeliveredAt = json.RawMessage(payload), created.t, delivered.ptr()
		out = append(out, m)
	}
	return out, x.db.wrap(rows.Err())
}

// RecordPolicy stores a policy version the first time it is seen.
func (db *DB) RecordPolicy(ctx context.Context, version string, content any, now time.Time) error {
	q := db.reader()
	return db.Exec(ctx, `INSERT INTO policies (version, loaded_at, content) VALUES (?, ?, ?) ON CONFLICT (version) DO NOTHING`,
		version, q.ts(now), jsonArg(content))
}
