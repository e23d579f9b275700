package app

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// instrument counts requests and their latency by route family and status.
func (a *App) instrument(next http.Handler) http.Handler {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "patchctl_http_requests_total", Help: "HTTP requests by route family, method and status.",
	}, []string{"route", "method", "code"})
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "patchctl_http_request_duration_seconds", Help: "HTTP request latency by route family.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"route"})
	a.registry.MustRegister(requests, latency)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(rw, r)
		route := family(r.URL.Path)
		requests.WithLabelValues(route, r.Method, strconv.Itoa(rw.code)).Inc()
		latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}

// family keeps label cardinality bounded: /api/v1/patches/PATCH-4/evidence
// becomes api/patches.
func family(path string) string {
	p := strings.Trim(path, "/")
	switch {
	case strings.HasPrefix(p, "api/v1/"):
		rest := strings.SplitN(strings.TrimPrefix(p, "api/v1/"), "/", 2)
		return "api/" + rest[0]
	case strings.HasPrefix(p, "hooks/"):
		return "hooks/" + strings.SplitN(strings.TrimPrefix(p, "hooks/"), "/", 2)[0]
	case p == "healthz" || p == "readyz" || p == "metrics":
		return p
	case strings.HasPrefix(p, "static/"):
		return "static"
	}
	return "ui"
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the underlying writer (flush
// for streamed exports).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
