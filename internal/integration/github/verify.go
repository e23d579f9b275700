package github

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/textutil"
)

// Webhook headers GitHub sends with every delivery. http.Header
// canonicalises them (X-Github-Event); these spellings are GitHub's.
const (
	HeaderSignature256  = "X-Hub-Signature-256"
	HeaderSignatureSHA1 = "X-Hub-Signature"
	HeaderEvent         = "X-GitHub-Event"
	HeaderDelivery      = "X-GitHub-Delivery"
)

// MaxPayloadBytes is the largest delivery body accepted: GitHub caps
// webhook payloads at 25 MB and drops larger ones itself.
const MaxPayloadBytes = 25 << 20

const signaturePrefix = "sha256="

// Causes of a refused signature, wrapped in the *patchctl.Error that Verify
// returns (test with errors.Is). The distinction is for logs; a client only
// ever sees CodeUnauthorized.
var (
	ErrNoSecret           = errors.New("no webhook secret configured")
	ErrNoSignature        = errors.New("no X-Hub-Signature-256 header")
	ErrSHA1Only           = errors.New("only the SHA-1 X-Hub-Signature header was sent")
	ErrMalformedSignature = errors.New("malformed X-Hub-Signature-256 header")
	ErrSignatureMismatch  = errors.New("signature does not match")
)

// Verify checks that body was signed by GitHub with secret: the
// X-Hub-Signature-256 header must be "sha256=" followed by the hex
// HMAC-SHA256 of body keyed with secret. It compares in constant time.
//
// It refuses (with a *patchctl.Error of code CodeUnauthorized) when the
// secret is empty, when the header is missing, repeated or malformed, when
// only the SHA-1 header is present, and when the signature does not match.
func Verify(secret []byte, header http.Header, body []byte) error {
	if len(secret) == 0 {
		return &patchctl.Error{Code: patchctl.CodeUnauthorized,
			Message: "webhook secret is not configured: refusing every delivery until one is set", Err: ErrNoSecret}
	}
	values := header.Values(HeaderSignature256)
	switch {
	case len(values) == 0 && header.Get(HeaderSignatureSHA1) != "":
		return &patchctl.Error{Code: patchctl.CodeUnauthorized,
			Message: "webhook delivery is signed with SHA-1 only: X-Hub-Signature-256 is required", Err: ErrSHA1Only}
	case len(values) == 0:
		return &patchctl.Error{Code: patchctl.CodeUnauthorized,
			Message: "webhook delivery is not signed: X-Hub-Signature-256 header is missing", Err: ErrNoSignature}
	case len(values) > 1:
		return &patchctl.Error{Code: patchctl.CodeUnauthorized,
			Message: "webhook delivery has several X-Hub-Signature-256 headers", Err: ErrMalformedSignature}
	}
	got, ok := decodeSignature(values[0])
	if !ok {
		return &patchctl.Error{Code: patchctl.CodeUnauthorized,
			Message: `malformed X-Hub-Signature-256 header: want "sha256=" and 64 hex digits`, Err: ErrMalformedSignature}
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	var sum [sha256.Size]byte
	if !hmac.Equal(mac.Sum(sum[:0]), got[:]) {
		return &patchctl.Error{Code: patchctl.CodeUnauthorized,
			Message: "webhook signature does not match the body and the configured secret", Err: ErrSignatureMismatch}
	}
	return nil
}

func decodeSignature(v string) (sig [sha256.Size]byte, ok bool) {
	if len(v) != len(signaturePrefix)+2*sha256.Size || !strings.EqualFold(v[:len(signaturePrefix)], signaturePrefix) {
		return sig, false
	}
	n, err := hex.Decode(sig[:], []byte(v[len(signaturePrefix):]))
	return sig, err == nil && n == sha256.Size
}

// Sign returns the X-Hub-Signature-256 value GitHub would send for body
// signed with secret ("sha256=<hex>"). Tests and fakes use it to sign
// deliveries.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return signaturePrefix + hex.EncodeToString(mac.Sum(nil))
}

// Delivery identifies one webhook delivery.
type Delivery struct {
	// ID is the X-GitHub-Delivery GUID; GitHub keeps it on redelivery, so
	// it is the idempotency key.
	ID string
	// Event is the X-GitHub-Event name, e.g. "pull_request".
	Event string
}

// ParseDelivery reads and validates the X-GitHub-Delivery and
// X-GitHub-Event headers. A missing or malformed header is a
// patchctl.CodeInvalid error naming it.
func ParseDelivery(header http.Header) (Delivery, error) {
	d := Delivery{ID: header.Get(HeaderDelivery), Event: header.Get(HeaderEvent)}
	switch {
	case d.ID == "":
		return d, patchctl.FieldError(HeaderDelivery, "header is missing")
	case !validDeliveryID(d.ID):
		return d, patchctl.FieldError(HeaderDelivery, "%q is not a delivery id", textutil.Clip(d.ID, 64))
	case d.Event == "":
		return d, patchctl.FieldError(HeaderEvent, "header is missing")
	case !validEventName(d.Event):
		return d, patchctl.FieldError(HeaderEvent, "%q is not an event name", textutil.Clip(d.Event, 64))
	}
	return d, nil
}

// validDeliveryID accepts GUIDs and the like: up to 128 letters, digits,
// '-', '_' and '.' (ParseDelivery refuses the empty id first).
func validDeliveryID(s string) bool { return len(s) <= 128 && nameChars(s) }

// nameChars reports whether s holds only ASCII letters, digits, '-', '_'
// and '.': the characters of delivery ids and of repository owners and
// names.
func nameChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// validEventName accepts GitHub's event names: lowercase letters and '_'.
func validEventName(s string) bool {
	if len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c == '_') {
			return false
		}
	}
	return true
}

// VerifyAndParse is the whole webhook path after the body has been read:
// it verifies the signature (Verify), then the delivery headers
// (ParseDelivery), then parses the payload (ParseEvent) and stamps the
// delivery id on the event. Deliveries configured with the
// application/x-www-form-urlencoded content type are accepted: the
// signature covers the form body and the JSON is its payload field.
func VerifyAndParse(secret []byte, header http.Header, body []byte) (*Event, error) {
	if err := Verify(secret, header, body); err != nil {
		return nil, err
	}
	d, err := ParseDelivery(header)
	if err != nil {
		return nil, err
	}
	payload := body
	if isForm(header.Get("Content-Type")) {
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, &patchctl.Error{Code: patchctl.CodeInvalid, Message: "form-encoded delivery is malformed", Err: err}
		}
		if !form.Has("payload") {
			return nil, patchctl.FieldError("payload", "form-encoded delivery has no payload field")
		}
		payload = []byte(form.Get("payload"))
	}
	ev, err := ParseEvent(d.Event, payload)
	if err != nil {
		return nil, err
	}
	ev.Delivery = d.ID
	return ev, nil
}

func isForm(contentType string) bool {
	if contentType == "" {
		return false
	}
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/x-www-form-urlencoded"
}

// ReadRequest reads a delivery from r (at most MaxPayloadBytes, else
// CodeTooLarge) and passes it to VerifyAndParse. It does not close r.Body.
func ReadRequest(r *http.Request, secret []byte) (*Event, error) {
	if r.ContentLength > MaxPayloadBytes {
		return nil, patchctl.Errorf(patchctl.CodeTooLarge, "webhook body of %d bytes is over the %d-byte limit", r.ContentLength, MaxPayloadBytes)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxPayloadBytes+1))
	if err != nil {
		return nil, &patchctl.Error{Code: patchctl.CodeInvalid, Message: "reading the webhook body failed", Err: err}
	}
	if len(body) > MaxPayloadBytes {
		return nil, patchctl.Errorf(patchctl.CodeTooLarge, "webhook body is over the %d-byte limit", MaxPayloadBytes)
	}
	return VerifyAndParse(secret, r.Header, body)
}

// invalidf builds a CodeInvalid error for a payload problem.
func invalidf(format string, args ...any) *patchctl.Error {
	return &patchctl.Error{Code: patchctl.CodeInvalid, Message: fmt.Sprintf(format, args...)}
}
