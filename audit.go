package patchctl

import (
	"encoding/json"
	"time"
)

// AuditEvent is one row of the hash-chained audit log. The log is append-only:
// every mutation writes its event in the same transaction as the change.
type AuditEvent struct {
	Seq     int64     `json:"seq"`
	At      time.Time `json:"at"`
	Actor   string    `json:"actor"`
	Role    Role      `json:"role,omitempty"`
	Action  string    `json:"action"`
	Subject string    `json:"subject"` // PATCH-42, finding:17, token:3, ...
	// Data is the canonical JSON of what changed.
	Data     json.RawMessage `json:"data"`
	PrevHash string          `json:"prev_hash"`
	Hash     string          `json:"hash"`
}

// Clock returns the current time. Components take one instead of calling
// time.Now so that SLA and soak logic is tested without sleeping.
type Clock func() time.Time

// SystemClock is the wall clock in UTC.
func SystemClock() time.Time { return time.Now().UTC() }
