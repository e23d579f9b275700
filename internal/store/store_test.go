package store_test

import (
	"testing"

	"github.com/patchctl/patchctl/internal/store"
	"github.com/patchctl/patchctl/internal/store/storetest"
	"github.com/patchctl/patchctl/internal/testutil/pgtest"
	"github.com/patchctl/patchctl/internal/testutil/testdb"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestContract runs the store contract suite on every engine.
func TestContract(t *testing.T) {
	for _, engine := range testdb.Engines {
		t.Run(string(engine), func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) *store.DB { return testdb.Open(t, engine) })
		})
	}
}
