package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/danielgtaylor/huma/v2"

	"github.com/patchctl/patchctl"
)

// Problem is an RFC 9457 problem document. Beyond the standard members it
// carries the error code, the field at fault for invalid input, and the
// refusing gates (the first one's name in Gate) for a gate refusal.
type Problem struct {
	Type     string                `json:"type,omitempty" doc:"A URI naming the kind of problem"`
	Title    string                `json:"title" doc:"Short summary of the kind of problem"`
	Status   int                   `json:"status" doc:"HTTP status code"`
	Detail   string                `json:"detail,omitempty" doc:"What went wrong, for a person"`
	Instance string                `json:"instance,omitempty"`
	Code     string                `json:"code,omitempty" doc:"patchctl error code" enum:"invalid,unauthorized,forbidden,not_found,conflict,gate,too_large,unavailable,internal"`
	Field    string                `json:"field,omitempty" doc:"The input field at fault, for invalid input"`
	Gate     string                `json:"gate,omitempty" doc:"The first gate that refused, for a gate refusal"`
	Gates    []patchctl.GateResult `json:"gates,omitempty" doc:"Every refusing gate with what is missing"`
	Errors   []*huma.ErrorDetail   `json:"errors,omitempty" doc:"Validation errors, each with its location"`
}

func (p *Problem) Error() string  { return p.Detail }
func (p *Problem) GetStatus() int { return p.Status }

// ContentType makes JSON problems application/problem+json.
func (p *Problem) ContentType(ct string) string {
	if ct == "application/json" {
		return "application/problem+json"
	}
	return ct
}

var statusOf = map[patchctl.Code]int{
	patchctl.CodeInvalid:      http.StatusBadRequest,
	patchctl.CodeUnauthorized: http.StatusUnauthorized,
	patchctl.CodeForbidden:    http.StatusForbidden,
	patchctl.CodeNotFound:     http.StatusNotFound,
	patchctl.CodeConflict:     http.StatusConflict,
	patchctl.CodeGate:         http.StatusConflict,
	patchctl.CodeTooLarge:     http.StatusRequestEntityTooLarge,
	patchctl.CodeUnavailable:  http.StatusServiceUnavailable,
	patchctl.CodeInternal:     http.StatusInternalServerError,
}

// StatusOf maps an error code to its HTTP status, in one place.
func StatusOf(c patchctl.Code) int {
	if s, ok := statusOf[c]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// codeOf maps a status back to a code, for errors huma raises itself.
func codeOf(status int) patchctl.Code {
	for c, s := range statusOf {
		if s == status && c != patchctl.CodeGate {
			return c
		}
	}
	if status >= 500 {
		return patchctl.CodeInternal
	}
	return patchctl.CodeInvalid
}

// ProblemFor converts any error to a problem. Internal detail is logged, never
// returned: a client sees the safe message of a *patchctl.Error, or "internal
// error".
func ProblemFor(ctx context.Context, log *slog.Logger, err error) *Problem {
	var p *Problem
	if errors.As(err, &p) {
		return p
	}
	var se huma.StatusError
	if errors.As(err, &se) {
		return NewProblem(se.GetStatus(), err.Error())
	}
	code := patchctl.ErrorCode(err)
	status := StatusOf(code)
	p = &Problem{Type: "https://patchctl.dev/problems/" + string(code), Title: http.StatusText(status), Status: status,
		Code: string(code), Detail: patchctl.ErrorMessage(err)}
	var e *patchctl.Error
	if errors.As(err, &e) {
		p.Field = e.Field
		if len(e.Gates) > 0 {
			p.Gates, p.Gate = e.Gates, e.Gates[0].Gate
		}
	}
	if status >= 500 {
		log.ErrorContext(ctx, "request failed", "code", code, "err", err)
	}
	return p
}

// NewProblem builds a problem from a status and message (huma's own errors).
// Validation failures become 400 with the first failing location as the
// field, so that clients see one convention for bad input.
func NewProblem(status int, msg string, errs ...error) *Problem {
	if status == http.StatusUnprocessableEntity {
		status = http.StatusBadRequest
	}
	code := codeOf(status)
	p := &Problem{Type: "https://patchctl.dev/problems/" + string(code), Title: http.StatusText(status), Status: status,
		Code: string(code), Detail: msg}
	for _, e := range errs {
		if e == nil {
			continue
		}
		var d *huma.ErrorDetail
		if det, ok := e.(huma.ErrorDetailer); ok {
			d = det.ErrorDetail()
		} else {
			d = &huma.ErrorDetail{Message: e.Error()}
		}
		p.Errors = append(p.Errors, d)
	}
	if len(p.Errors) > 0 {
		first := p.Errors[0]
		p.Field = strings.TrimPrefix(first.Location, "body.")
		if first.Location != "" {
			p.Detail = first.Location + ": " + first.Message
		} else if first.Message != "" {
			p.Detail = msg + ": " + first.Message
		}
	}
	return p
}

var setErrors sync.Once

// installErrors makes huma speak our problem type.
func installErrors() {
	setErrors.Do(func() {
		huma.NewError = func(status int, msg string, errs ...error) huma.StatusError {
			return NewProblem(status, msg, errs...)
		}
	})
}
