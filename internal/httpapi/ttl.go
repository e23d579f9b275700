package httpapi

import (
	"time"

	"github.com/patchctl/patchctl/internal/config"
)

func parseTTL(s string) (time.Duration, error) { return config.ParseDuration(s) }
