package github

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	gh "github.com/google/go-github/v93/github"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/textutil"
)

// RateLimitError is the cause (errors.As) of the CodeUnavailable error a
// Client returns when GitHub's rate limit is exhausted: a scheduler can
// wait until Reset (primary limit) or RetryAfter (secondary limit).
type RateLimitError struct {
	// Limit and Remaining are the primary limit's numbers; Reset is when
	// it resets (zero for a secondary limit).
	Limit     int
	Remaining int
	Reset     time.Time
	// RetryAfter is the wait GitHub asked for after a secondary limit
	// (zero when it did not say).
	RetryAfter time.Duration
	// Secondary is set for GitHub's secondary (abuse) rate limit.
	Secondary bool
	Err       error
}

func (e *RateLimitError) Error() string {
	if e.Secondary {
		return fmt.Sprintf("github secondary rate limit (retry after %s): %v", e.RetryAfter, e.Err)
	}
	return fmt.Sprintf("github rate limit %d/%d, resets at %s: %v", e.Remaining, e.Limit, e.Reset.Format(time.RFC3339), e.Err)
}

func (e *RateLimitError) Unwrap() error { return e.Err }

// ErrNoCommits is the cause of the CodeConflict error OpenDraftPR returns
// for a branch with no commits ahead of the base: GitHub opens no pull
// request without changes.
var ErrNoCommits = errors.New("branch has no commits ahead of the base branch")

// apiError maps an error of a go-github call to a *patchctl.Error; what
// says what was being done ("get repository acme/app"). Codes: 404 is
// CodeNotFound; 401 and 403 (wrong or insufficient credentials), 5xx,
// rate limits and network failures are CodeUnavailable; 409 is
// CodeConflict; 400 and 422 are CodeInvalid.
func apiError(what string, err error) error {
	if err == nil {
		return nil
	}
	var pe *patchctl.Error
	if errors.As(err, &pe) {
		// Already mapped, e.g. by the app transport minting a token.
		return pe
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &patchctl.Error{Code: patchctl.CodeUnavailable, Message: fmt.Sprintf("github: %s: gave up waiting for GitHub", what), Err: err}
	}
	var rl *gh.RateLimitError
	if errors.As(err, &rl) {
		reset := rl.Rate.Reset.UTC()
		return &patchctl.Error{Code: patchctl.CodeUnavailable,
			Message: fmt.Sprintf("github: %s: GitHub API rate limit of %d requests exhausted; it resets at %s",
				what, rl.Rate.Limit, reset.Format(time.RFC3339)),
			Err: &RateLimitError{Limit: rl.Rate.Limit, Remaining: rl.Rate.Remaining, Reset: reset, Err: err}}
	}
	var ab *gh.AbuseRateLimitError
	if errors.As(err, &ab) {
		e := &RateLimitError{Secondary: true, RetryAfter: ab.GetRetryAfter().Round(time.Second), Err: err}
		msg := fmt.Sprintf("github: %s: GitHub secondary rate limit hit", what)
		if e.RetryAfter > 0 {
			msg += fmt.Sprintf("; retry after %s", e.RetryAfter)
		}
		return &patchctl.Error{Code: patchctl.CodeUnavailable, Message: msg, Err: e}
	}
	var tfa *gh.TwoFactorAuthError
	if errors.As(err, &tfa) {
		return credentialsError(what, http.StatusUnauthorized, tfa.Message, err)
	}
	var er *gh.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		status := er.Response.StatusCode
		detail := githubMessage(er)
		switch {
		case status == http.StatusNotFound:
			return &patchctl.Error{Code: patchctl.CodeNotFound, Err: err, Message: fmt.Sprintf(
				"github: %s: not found (or the credentials cannot see it)", what)}
		case status == http.StatusUnauthorized || status == http.StatusForbidden:
			return credentialsError(what, status, detail, err)
		case status == http.StatusConflict:
			return &patchctl.Error{Code: patchctl.CodeConflict, Err: err, Message: fmt.Sprintf("github: %s: conflict: %s", what, detail)}
		case status == http.StatusUnprocessableEntity || status == http.StatusBadRequest:
			return &patchctl.Error{Code: patchctl.CodeInvalid, Err: err, Message: fmt.Sprintf("github: %s: GitHub refused it: %s", what, detail)}
		case status >= 500:
			return &patchctl.Error{Code: patchctl.CodeUnavailable, Err: err, Message: fmt.Sprintf(
				"github: %s: GitHub is unavailable (HTTP %d)", what, status)}
		default:
			return &patchctl.Error{Code: patchctl.CodeUnavailable, Err: err, Message: fmt.Sprintf(
				"github: %s: unexpected HTTP %d from GitHub: %s", what, status, detail)}
		}
	}
	var ue *url.Error
	var ne net.Error
	if errors.As(err, &ue) || errors.As(err, &ne) {
		return &patchctl.Error{Code: patchctl.CodeUnavailable, Err: err, Message: fmt.Sprintf("github: %s: GitHub is unreachable", what)}
	}
	return &patchctl.Error{Code: patchctl.CodeUnavailable, Err: err, Message: fmt.Sprintf("github: %s: unexpected response from GitHub", what)}
}

func credentialsError(what string, status int, detail string, err error) error {
	return &patchctl.Error{Code: patchctl.CodeUnavailable, Err: err, Message: fmt.Sprintf(
		"github: %s: GitHub refused the credentials (HTTP %d: %s): check the token, or the app installation and its permissions",
		what, status, detail)}
}

// githubMessage is GitHub's own explanation: its message and the messages
// or codes of its detailed errors. GitHub's messages name no secrets.
func githubMessage(er *gh.ErrorResponse) string {
	parts := []string{}
	if er.Message != "" {
		parts = append(parts, er.Message)
	}
	for _, e := range er.Errors {
		switch {
		case e.Message != "":
			parts = append(parts, e.Message)
		case e.Code != "":
			parts = append(parts, strings.TrimSpace(e.Resource+" "+e.Field+" "+e.Code))
		}
	}
	if len(parts) == 0 {
		return http.StatusText(er.Response.StatusCode)
	}
	return textutil.Clip(strings.Join(parts, "; "), 300)
}

// statusOf returns the HTTP status of a go-github error, 0 if none.
func statusOf(err error) int {
	var er *gh.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		return er.Response.StatusCode
	}
	return 0
}
