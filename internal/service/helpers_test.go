package service_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/config"
	"github.com/patchctl/patchctl/internal/policy"
	"github.com/patchctl/patchctl/internal/service"
	"github.com/patchctl/patchctl/internal/store"
	"github.com/patchctl/patchctl/internal/testutil/fakeclock"
	"github.com/patchctl/patchctl/internal/testutil/pgtest"
	"github.com/patchctl/patchctl/internal/testutil/testdb"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// start is a Monday morning.
var start = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

var (
	alice  = patchctl.Actor{Name: "alice", Role: patchctl.RoleEngineer}
	bob    = patchctl.Actor{Name: "bob", Role: patchctl.RoleEngineer}
	olga   = patchctl.Actor{Name: "olga", Role: patchctl.RoleOncall}
	lena   = patchctl.Actor{Name: "lena", Role: patchctl.RoleLead}
	adam   = patchctl.Actor{Name: "adam", Role: patchctl.RoleAdmin}
	viola  = patchctl.Actor{Name: "viola", Role: patchctl.RoleViewer}
	github = patchctl.SystemActor("github")
)

type fixture struct {
	t     *testing.T
	ctx   context.Context
	db    *store.DB
	svc   *service.Service
	clock *fakeclock.Clock
}

func testConfig() *config.Config {
	cfg := config.Default()
	cfg.Clusters = []config.Cluster{
		{Name: "mgmt", Role: config.ClusterManagement, NodePools: []string{"system"}},
		{Name: "main", Role: config.ClusterMain, NodePools: []string{"pool-a", "pool-b"}},
	}
	return cfg
}

func newFixture(t *testing.T, db *store.DB) *fixture {
	t.Helper()
	pol, ps := policy.New(testConfig())
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	clk := fakeclock.New(start)
	return &fixture{t: t, ctx: context.Background(), db: db, svc: service.New(db, pol, clk.Now, nil), clock: clk}
}

// each runs fn on every engine with a fresh fixture.
func each(t *testing.T, fn func(t *testing.T, f *fixture)) {
	testdb.Each(t, func(t *testing.T, db *store.DB) { fn(t, newFixture(t, db)) })
}

func (f *fixture) must(err error) {
	f.t.Helper()
	if err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) create(a patchctl.Actor, in service.CreatePatch) *patchctl.Patch {
	f.t.Helper()
	p, err := f.svc.CreatePatch(f.ctx, a, in)
	f.must(err)
	return p
}

func (f *fixture) evidence(a patchctl.Actor, key string, e patchctl.Evidence) {
	f.t.Helper()
	_, err := f.svc.AddEvidence(f.ctx, a, key, e)
	f.must(err)
}

func (f *fixture) advance(a patchctl.Actor, key string, want patchctl.State) {
	f.t.Helper()
	res, err := f.svc.Transition(f.ctx, a, key, service.TransitionInput{})
	if err != nil {
		f.t.Fatalf("advance %s to %s: %v", key, want, err)
	}
	if res.To != want {
		f.t.Fatalf("advanced %s to %s, want %s", key, res.To, want)
	}
}

// refused asserts that advancing is refused by exactly the named gates.
func (f *fixture) refused(a patchctl.Actor, key string, gates ...string) {
	f.t.Helper()
	_, err := f.svc.Transition(f.ctx, a, key, service.TransitionInput{})
	f.gateErr(err, gates...)
}

func (f *fixture) gateErr(err error, gates ...string) {
	f.t.Helper()
	var e *patchctl.Error
	if !errors.As(err, &e) || e.Code != patchctl.CodeGate {
		f.t.Fatalf("want a refusal by %v, got %v", gates, err)
	}
	var got []string
	for _, g := range e.Gates {
		if g.Missing == "" {
			f.t.Errorf("gate %s refused without saying what is missing", g.Gate)
		}
		got = append(got, g.Gate)
	}
	slices.Sort(got)
	want := slices.Clone(gates)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		f.t.Fatalf("refused by %v, want %v (%s)", got, want, e.Message)
	}
}

func (f *fixture) state(key string) *patchctl.Patch {
	f.t.Helper()
	d, err := f.svc.Patch(f.ctx, viola, key)
	f.must(err)
	return d.Patch
}

func code(err error) patchctl.Code { return patchctl.ErrorCode(err) }

func (f *fixture) verifyAudit() *store.Verification {
	f.t.Helper()
	v, err := f.svc.VerifyAudit(f.ctx, viola)
	f.must(err)
	if !v.OK {
		f.t.Fatalf("audit chain broken: %+v", v)
	}
	return v
}
