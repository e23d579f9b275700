package web

import (
	"net/url"
	"testing"
)

func TestListURL(t *testing.T) {
	q := url.Values{"state": {"open"}, "severity": {""}, "after": {"old"}, "other": {"x"}}
	for _, tc := range []struct {
		path       string
		keep       []string
		key, value string
		want       string
	}{
		// Only the named filters that were given are kept; the paging
		// parameter is replaced.
		{"/findings", findingFilterFields, "after", "c2", "/findings?after=c2&state=open"},
		{"/findings", findingFilterFields, "after", "", "/findings?state=open"},
		{"/deliveries", deliveryFilterFields, "before", "", "/deliveries"},
		{"/audit", auditFilterFields, "after", "0", "/audit?after=0"},
	} {
		if got := listURL(tc.path, q, tc.keep, tc.key, tc.value); got != tc.want {
			t.Errorf("listURL(%s, %s=%q) = %q, want %q", tc.path, tc.key, tc.value, got, tc.want)
		}
	}
}
