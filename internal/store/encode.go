package store

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"time"
)

// ts encodes a time for the engine: microseconds since the epoch on SQLite,
// a UTC time.Time on PostgreSQL. Times are truncated to microseconds, the
// precision both engines keep, so that what is read back equals what was
// written (the audit chain depends on it).
func (x q) ts(t time.Time) any {
	t = t.UTC().Truncate(time.Microsecond)
	if x.db.engine == SQLite {
		return t.UnixMicro()
	}
	return t
}

// tsp encodes an optional time; nil stays NULL.
func (x q) tsp(t *time.Time) any {
	if t == nil || t.IsZero() {
		return nil
	}
	return x.ts(*t)
}

// Micro truncates t to the precision the store keeps.
func Micro(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// tscan scans a timestamp written by ts (or NULL).
type tscan struct {
	t     time.Time
	valid bool
}

func (s *tscan) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		s.valid = false
	case int64:
		s.t, s.valid = time.UnixMicro(v).UTC(), true
	case time.Time:
		s.t, s.valid = v.UTC(), true
	case float64:
		s.t, s.valid = time.UnixMicro(int64(v)).UTC(), true
	default:
		return fmt.Errorf("cannot scan %T into a timestamp", src)
	}
	return nil
}

func (s tscan) ptr() *time.Time {
	if !s.valid {
		return nil
	}
	t := s.t
	return &t
}

// jsonText scans a TEXT column holding JSON into v.
type jsonText struct{ v any }

func (j jsonText) Scan(src any) error {
	var b []byte
	switch s := src.(type) {
	case nil:
		return nil
	case string:
		b = []byte(s)
	case []byte:
		b = s
	default:
		return fmt.Errorf("cannot scan %T as JSON", src)
	}
	if len(b) == 0 {
		return nil
	}
	return json.Unmarshal(b, j.v)
}

// jsonArg encodes v as JSON text for a TEXT column.
func jsonArg(v any) driver.Value {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("store: encoding %T as JSON: %v", v, err))
	}
	return string(b)
}
