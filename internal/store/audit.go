package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/patchctl/patchctl"
)

// canonical is the encoding an audit event's hash covers. Field order is
// fixed by the struct; Data is the compacted JSON exactly as stored. The
// sequence number is not part of it: order is proven by each event naming
// the hash of the one before.
type canonical struct {
	At      string          `json:"at"`
	Actor   string          `json:"actor"`
	Role    string          `json:"role"`
	Action  string          `json:"action"`
	Subject string          `json:"subject"`
	Data    json.RawMessage `json:"data"`
}

// HashEvent computes the chain hash of an event: SHA-256 over the previous
// hash, a newline, and the canonical JSON of the event.
func HashEvent(prev string, e *patchctl.AuditEvent) string {
	c := canonical{
		At:      e.At.UTC().Format(time.RFC3339Nano),
		Actor:   e.Actor,
		Role:    string(e.Role),
		Action:  e.Action,
		Subject: e.Subject,
		Data:    e.Data,
	}
	b, err := json.Marshal(c)
	if err != nil {
		// Data was validated as JSON when the event was appended; a stored
		// row that is not JSON hashes as its raw bytes so verify reports it.
		b = append([]byte(c.At+c.Actor+c.Action+c.Subject), e.Data...)
	}
	h := sha256.New()
	h.Write([]byte(prev))
	h.Write([]byte{'\n'})
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

// Audit appends an event to the chain in this transaction. data is encoded
// as compact JSON (maps with sorted keys): json.Marshal writes no spaces and
// compacts what MarshalJSON methods (json.RawMessage) return. The event's
// Seq, At (truncated to microseconds), PrevHash and Hash are set.
func (tx *Tx) Audit(ctx context.Context, e *patchctl.AuditEvent, data any) error {
	raw, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("audit data: %w", err)
	}
	e.Data = raw
	e.At = Micro(e.At)
	// Reading the head row (locked on PostgreSQL) serialises appends, so the
	// chain stays linear however many replicas write.
	var seq int64
	var prev string
	if err := tx.row(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`+tx.forUpdate()).Scan(&seq, &prev); err != nil {
		return fmt.Errorf("reading audit head: %w", tx.db.wrap(err))
	}
	e.Seq = seq + 1
	e.PrevHash = prev
	e.Hash = HashEvent(prev, e)
	if _, err := tx.exec(ctx, `INSERT INTO audit_events (seq, at, actor, role, action, subject, data, prev_hash, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, e.Seq, tx.ts(e.At), e.Actor, string(e.Role), e.Action, e.Subject,
		string(e.Data), e.PrevHash, e.Hash); err != nil {
		return err
	}
	_, err = tx.exec(ctx, `UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1`, e.Seq, e.Hash)
	return err
}

// AuditFilter selects audit events.
type AuditFilter struct {
	Subject string
	Actor   string
	Action  string
	Since   *time.Time
	Until   *time.Time
	// AfterSeq pages forward; BeforeSeq pages backward (newest first).
	AfterSeq  int64
	BeforeSeq int64
	Desc      bool
	Limit     int
}

const auditColumns = `seq, at, actor, role, action, subject, data, prev_hash, hash`

func scanAudit(r rowScanner) (patchctl.AuditEvent, error) {
	var e patchctl.AuditEvent
	var at tscan
	var data string
	err := r.Scan(&e.Seq, &at, &e.Actor, &e.Role, &e.Action, &e.Subject, &data, &e.PrevHash, &e.Hash)
	e.At = at.t
	e.Data = json.RawMessage(data)
	return e, err
}

// AuditEvents lists events matching f.
func (x q) AuditEvents(ctx context.Context, f AuditFilter) ([]patchctl.AuditEvent, error) {
	query := `SELECT ` + auditColumns + ` FROM audit_events WHERE 1 = 1`
	var args []any
	if f.Subject != "" {
		query += ` AND subject = ?`
		args = append(args, f.Subject)
	}
	if f.Actor != "" {
		query += ` AND actor = ?`
		args = append(args, f.Actor)
	}
	if f.Action != "" {
		query += ` AND action = ?`
		args = append(args, f.Action)
	}
	if f.Since != nil {
		query += ` AND at >= ?`
		args = append(args, x.ts(*f.Since))
	}
	if f.Until != nil {
		query += ` AND at < ?`
		args = append(args, x.ts(*f.Until))
	}
	if f.AfterSeq > 0 {
		query += ` AND seq > ?`
		args = append(args, f.AfterSeq)
	}
	if f.BeforeSeq > 0 {
		query += ` AND seq < ?`
		args = append(args, f.BeforeSeq)
	}
	if f.Desc {
		query += ` ORDER BY seq DESC`
	} else {
		query += ` ORDER BY seq`
	}
	limit := f.Limit
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	query += ` LIMIT ?`
	args = append(args, limit)
	rows, err := x.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []patchctl.AuditEvent
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, x.db.wrap(rows.Err())
}

// ScanAudit calls fn for every event in chain order, streaming.
func (db *DB) ScanAudit(ctx context.Context, afterSeq int64, fn func(patchctl.AuditEvent) error) error {
	rows, err := db.read.QueryContext(ctx, db.bind(`SELECT `+auditColumns+` FROM audit_events WHERE seq > ? ORDER BY seq`), afterSeq)
	if err != nil {
		return db.wrap(err)
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return err
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return db.wrap(rows.Err())
}

// Verification is the result of checking the audit chain.
type Verification struct {
	OK       bool   `json:"ok"`
	Checked  int64  `json:"checked"`
	HeadSeq  int64  `json:"head_seq"`
	HeadHash string `json:"head_hash"`
	// FirstBad is the sequence number of the first row found wrong, and
	// Problem one of "modified", "deleted", "reordered".
	FirstBad int64  `json:"first_bad,omitempty"`
	Problem  string `json:"problem,omitempty"`
	Detail   string `json:"detail,omitempty"`
}

// VerifyAudit walks the chain from the first event and reports the first row
// that was modified (its hash does not match its content), deleted (a gap in
// the sequence, or rows missing at the end compared with the head), or
// reordered (it names as predecessor an event that comes later).
func (db *DB) VerifyAudit(ctx context.Context) (*Verification, error) {
	v := &Verification{}
	if err := db.read.QueryRowContext(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&v.HeadSeq, &v.HeadHash); err != nil {
		return nil, db.wrap(err)
	}
	var prevHash string
	var prevSeq int64
	stop := errors.New("stop")
	bad := func(seq int64, problem, detail string) error {
		v.FirstBad, v.Problem, v.Detail = seq, problem, detail
		return stop
	}
	err := db.ScanAudit(ctx, 0, func(e patchctl.AuditEvent) error {
		v.Checked++
		if e.Seq != prevSeq+1 {
			return bad(prevSeq+1, "deleted", fmt.Sprintf("events %d to %d are missing", prevSeq+1, e.Seq-1))
		}
		if e.PrevHash != prevHash {
			var laterSeq int64
			err := db.read.QueryRowContext(ctx, db.bind(`SELECT seq FROM audit_events WHERE hash = ? AND seq > ?`), e.PrevHash, e.Seq).Scan(&laterSeq)
			if err == nil {
				return bad(e.Seq, "reordered", fmt.Sprintf("event %d names event %d as its predecessor", e.Seq, laterSeq))
			}
			if HashEvent(e.PrevHash, &e) == e.Hash {
				return bad(e.Seq, "deleted", fmt.Sprintf("event %d follows an event that is no longer in the log", e.Seq))
			}
			return bad(e.Seq, "modified", fmt.Sprintf("event %d does not chain to event %d", e.Seq, prevSeq))
		}
		if got := HashEvent(prevHash, &e); got != e.Hash {
			return bad(e.Seq, "modified", fmt.Sprintf("event %d (%s %s) does not match its hash", e.Seq, e.Action, e.Subject))
		}
		prevHash, prevSeq = e.Hash, e.Seq
		return nil
	})
	if err != nil && !errors.Is(err, stop) {
		return nil, err
	}
	if v.Problem == "" {
		switch {
		case prevSeq < v.HeadSeq:
			v.FirstBad, v.Problem = prevSeq+1, "deleted"
			v.Detail = fmt.Sprintf("the log ends at event %d but its head records %d events", prevSeq, v.HeadSeq)
		case prevSeq > v.HeadSeq || prevHash != v.HeadHash:
			v.FirstBad, v.Problem = v.HeadSeq, "modified"
			v.Detail = "the recorded head of the chain does not match its last event"
		default:
			v.OK = true
		}
	}
	return v, nil
}

// AuditHead returns the sequence and hash of the latest event.
func (x q) AuditHead(ctx context.Context) (int64, string, error) {
	var seq int64
	var hash string
	err := x.row(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&seq, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", nil
	}
	return seq, hash, x.db.wrap(err)
}
