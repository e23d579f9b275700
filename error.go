package patchctl

import (
	"errors"
	"fmt"
)

// Code classifies an error so that transports can map it to an HTTP status or
// an exit code in one place.
type Code string

// Error codes. Each maps to one HTTP status (internal/httpapi) and one CLI exit
// code (internal/cli).
const (
	CodeInvalid      Code = "invalid"      // bad input: 400
	CodeUnauthorized Code = "unauthorized" // no or unknown credentials: 401
	CodeForbidden    Code = "forbidden"    // role does not allow it: 403
	CodeNotFound     Code = "not_found"    // 404
	CodeConflict     Code = "conflict"     // version conflict or duplicate: 409
	CodeGate         Code = "gate"         // a lifecycle gate refused a transition: 409
	CodeTooLarge     Code = "too_large"    // body or upload over the limit: 413
	CodeUnavailable  Code = "unavailable"  // dependency down, retry later: 503
	CodeInternal     Code = "internal"     // a bug or an unexpected failure: 500
)

// Error is the error type of the domain. Message is safe to show to a client;
// internal detail belongs in the wrapped error, which is logged but never
// returned to an API caller.
type Error struct {
	Code    Code
	Message string
	// Field names the input field at fault (JSON path or flag name), if any.
	Field string
	// Gates lists the refusing gates when Code is CodeGate.
	Gates []GateResult
	// Err is the underlying cause, for logs.
	Err error
}

func (e *Error) Error() string {
	msg := e.Message
	if e.Field != "" {
		msg = e.Field + ": " + msg
	}
	if e.Err != nil && e.Message == "" {
		return e.Err.Error()
	}
	if e.Err != nil {
		return msg + ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldError returns a CodeInvalid error naming the field at fault.
func FieldError(field, format string, args ...any) *Error {
	return &Error{Code: CodeInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// NotFound returns a CodeNotFound error for a kind of thing and its id.
func NotFound(what, id string) *Error {
	return &Error{Code: CodeNotFound, Message: fmt.Sprintf("%s %s not found", what, id)}
}

// ErrorCode returns the code of the first *Error in err's chain, CodeInternal
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// ErrorMessage returns the client-safe message of err: the message of the
// first *Error in its chain, or a generic text for anything else so that
// internal detail never leaks.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		if e.Field != "" {
			return e.Field + ": " + e.Message
		}
		return e.Message
	}
	return "internal error"
}
