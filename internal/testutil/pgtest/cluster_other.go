//go:build !unix

package pgtest

import (
	"errors"
	"net/url"
)

// cluster is never started on this platform: starting the system's
// PostgreSQL as another user and watching the test binary rely on Unix
// process credentials and sessions. Set PATCHCTL_TEST_POSTGRES_URL instead.
type cluster struct {
	base, version string
	port          int
}

func startCluster() (*cluster, error) {
	return nil, errors.New("starting a throwaway cluster is supported on Unix only")
}

func (c *cluster) stop() error   { return nil }
func (c *cluster) url() *url.URL { return nil }
