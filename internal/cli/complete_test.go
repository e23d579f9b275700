package cli_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/patchctl/patchctl/internal/cli"
)

// TestCompletion checks the words shells complete flag values with.
func TestCompletion(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"patch", "list", "--kind"}, []string{"application", "kubernetes", "infrastructure"}},
		{[]string{"patch", "create", "--priority"}, []string{"emergency", "high", "routine"}},
		{[]string{"token", "create", "--role"}, []string{"viewer", "engineer", "oncall", "lead", "admin"}},
		{[]string{"finding", "list", "--severity"}, []string{"critical", "high", "medium", "low", "none", "unknown"}},
		{[]string{"patch", "rollback", "PATCH-1", "--severity"}, []string{"sev1", "sev2", "sev3", "sev4"}},
	} {
		var out, errb bytes.Buffer
		args := append(append([]string{"__complete"}, tc.args...), "")
		if code := cli.Run(context.Background(), args, &out, &errb, func(string) string { return "" }); code != cli.ExitOK {
			t.Fatalf("%v: exit %d\n%s", tc.args, code, errb.String())
		}
		// The last line is cobra's directive (":4").
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if d := cmp.Diff(tc.want, lines[:len(lines)-1]); d != "" {
			t.Errorf("%v (-want +got):\n%s", tc.args, d)
		}
	}
}
