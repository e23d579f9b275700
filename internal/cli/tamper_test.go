package cli_test

import (
	"context"
	"testing"

	"github.com/patchctl/patchctl/internal/store"
)

func tamper(t *testing.T, dbURL string) {
	t.Helper()
	db, err := store.Open(context.Background(), dbURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Exec(context.Background(), `UPDATE audit_events SET actor = 'mallory' WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
}
