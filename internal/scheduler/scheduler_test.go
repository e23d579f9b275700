package scheduler_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/patchctl/patchctl/internal/scheduler"
	"github.com/patchctl/patchctl/internal/store"
	"github.com/patchctl/patchctl/internal/testutil/fakeclock"
	"github.com/patchctl/patchctl/internal/testutil/pgtest"
	"github.com/patchctl/patchctl/internal/testutil/testdb"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var t0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

func schedule(t *testing.T, db *store.DB, kind, subject string, due time.Time) {
	t.Helper()
	if err := db.InTx(context.Background(), func(tx *store.Tx) error {
		return tx.ScheduleTimer(context.Background(), kind, subject, due, nil, t0)
	}); err != nil {
		t.Fatal(err)
	}
}

func TestRunsDueTimersOnce(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clk := fakeclock.New(t0)
		s := scheduler.New(db, clk.Now, nil, time.Second)
		var ran []string
		s.Handle("a.", func(ctx context.Context, tx *store.Tx, tm store.Timer) error {
			ran = append(ran, tm.Kind+"/"+tm.Subject)
			// Work done in the finishing transaction commits with it.
			return tx.ScheduleTimer(ctx, "work.done", tm.Subject, t0.Add(time.Hour), nil, t0)
		})
		s.Handle("a.long.", func(ctx context.Context, tx *store.Tx, tm store.Timer) error {
			ran = append(ran, "long:"+tm.Subject)
			return nil
		})
		schedule(t, db, "a.x", "s1", t0.Add(time.Minute))
		schedule(t, db, "a.long.y", "s2", t0.Add(time.Minute))
		if n, err := s.RunOnce(ctx); err != nil || n != 0 {
			t.Fatalf("before due: %d %v", n, err)
		}
		clk.Advance(time.Minute)
		if n, err := s.RunOnce(ctx); err != nil || n != 2 {
			t.Fatalf("at due: %d %v", n, err)
		}
		if n, _ := s.RunOnce(ctx); n != 0 {
			t.Fatalf("ran again: %d", n)
		}
		if len(ran) != 2 || ran[0] != "a.x/s1" || ran[1] != "long:s2" {
			t.Errorf("ran %v; the longest prefix should win", ran)
		}
		if done, _ := db.Read().Timers(ctx, "work.", "", true, 10); len(done) != 1 || done[0].Subject != "s1" {
			t.Errorf("work committed with the timer: %+v", done)
		}
	})
}

func TestFailureRetriesThenFails(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clk := fakeclock.New(t0)
		s := scheduler.New(db, clk.Now, nil, time.Second)
		calls := 0
		s.Handle("flaky", func(ctx context.Context, tx *store.Tx, tm store.Timer) error {
			calls++
			// Work written before the failure rolls back with it.
			if err := tx.ScheduleTimer(ctx, "work.attempt", "s", t0, nil, t0); err != nil {
				return err
			}
			return errors.New("downstream unavailable")
		})
		schedule(t, db, "flaky", "s", t0)
		for i := range 12 {
			if _, err := s.RunOnce(ctx); err != nil {
				t.Fatal(err)
			}
			clk.Advance(time.Duration(1<<min(i+1, 10))*time.Second + time.Second)
		}
		if calls != 10 {
			t.Errorf("handler called %d times, want 10 attempts", calls)
		}
		ts, _ := db.Read().Timers(ctx, "flaky", "", false, 10)
		if len(ts) != 1 || ts[0].State != store.TimerFailed || ts[0].LastError != "downstream unavailable" {
			t.Errorf("after giving up: %+v", ts)
		}
		if w, _ := db.Read().Timers(ctx, "work.", "", false, 10); len(w) != 0 {
			t.Errorf("work of failed attempts was committed: %+v", w)
		}
	})
}

func TestOutsideHandlerReschedules(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clk := fakeclock.New(t0)
		s := scheduler.New(db, clk.Now, nil, time.Second)
		runs := 0
		s.HandleOutside("feed.", func(ctx context.Context, tm store.Timer) (time.Time, error) {
			runs++
			// Its own transaction: allowed here, SQLite's writer is free.
			if err := db.InTx(ctx, func(tx *store.Tx) error { return nil }); err != nil {
				return time.Time{}, err
			}
			return clk.Now().Add(24 * time.Hour), nil
		})
		schedule(t, db, "feed.kev", "feed", t0)
		for range 3 {
			if n, err := s.RunOnce(ctx); err != nil || n != 1 {
				t.Fatalf("run: %d %v", n, err)
			}
			clk.Advance(24 * time.Hour)
		}
		if runs != 3 {
			t.Errorf("runs = %d", runs)
		}
		ts, _ := db.Read().Timers(ctx, "feed.", "", true, 10)
		if len(ts) != 1 || !ts[0].DueAt.Equal(t0.Add(72*time.Hour)) {
			t.Errorf("next run: %+v", ts)
		}
	})
}

func TestReplicasNeverShareATimer(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clk := fakeclock.New(t0)
		for i := range 40 {
			schedule(t, db, "job", string(rune('a'+i%26))+string(rune('0'+i/26)), t0)
		}
		var count atomic.Int64
		seen := sync.Map{}
		var dup atomic.Int64
		var wg sync.WaitGroup
		for range 3 {
			s := scheduler.New(db, clk.Now, nil, time.Second)
			s.Handle("job", func(ctx context.Context, tx *store.Tx, tm store.Timer) error {
				if _, loaded := seen.LoadOrStore(tm.ID, true); loaded {
					dup.Add(1)
				}
				count.Add(1)
				return nil
			})
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 5 {
					if _, err := s.RunOnce(ctx); err != nil {
						t.Error(err)
					}
				}
			}()
		}
		wg.Wait()
		if count.Load() != 40 || dup.Load() != 0 {
			t.Errorf("ran %d timers with %d duplicates; want 40 and 0", count.Load(), dup.Load())
		}
	})
}
