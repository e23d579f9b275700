package web

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/service"
)

// Cookie names. Over TLS they take the __Host- prefix, which browsers accept
// only with Secure, Path=/ and no Domain: no other host, and no plain-HTTP
// page of this host, can set or shadow them.
const (
	cookieSession = "patchctl_session"
	cookieSignIn  = "patchctl_signin" // the sign-in form's CSRF token, before any session exists
	cookieFlash   = "patchctl_flash"  // a one-time message for the next page
	hostPrefix    = "__Host-"
)

// maxFormBytes bounds every form body.
const maxFormBytes = 1 << 20

func (u *UI) cookieName(r *http.Request, name string) string {
	if u.isTLS(r) {
		return hostPrefix + name
	}
	return name
}

func (u *UI) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int, sameSite http.SameSite) {
	http.SetCookie(w, &http.Cookie{
		Name: u.cookieName(r, name), Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: u.isTLS(r), SameSite: sameSite,
	})
}

func (u *UI) cookie(r *http.Request, name string) string {
	c, err := r.Cookie(u.cookieName(r, name))
	if err != nil {
		return ""
	}
	return c.Value
}

type sessionKey struct{}

// sessionFrom returns the session of an authenticated request.
func sessionFrom(r *http.Request) *service.WebSession {
	s, _ := r.Context().Value(sessionKey{}).(*service.WebSession)
	return s
}

// handlerFunc is a page or form handler of a signed-in person.
type handlerFunc func(w http.ResponseWriter, r *http.Request, s *service.WebSession)

// authed resolves the session cookie and, for forms, checks the request's
// origin and CSRF token before calling h. Without a live session the
// browser goes to the sign-in page, which says why and comes back here.
func (u *UI) authed(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, r, ok := u.session(w, r)
		if !ok {
			return
		}
		if r.Method == http.MethodPost {
			if !u.readForm(w, r) {
				return
			}
			if !sameToken(r.PostForm.Get("csrf"), s.CSRF) {
				u.forbidden(w, r, csrfRefused)
				return
			}
		}
		h(w, r, s)
	})
}

// authedUpload is authed for a form that streams a file (multipart): it
// checks the session and the request's origin but leaves the body unread.
// The handler must check the CSRF token, sent as the part before the file,
// before it reads the file.
func (u *UI) authedUpload(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, r, ok := u.session(w, r)
		if !ok {
			return
		}
		if err := u.crossOri.Check(r); err != nil {
			u.forbidden(w, r, crossSiteRefused)
			return
		}
		h(w, r, s)
	})
}

// readForm checks that a form post comes from this site and reads its
// body, at most maxFormBytes; when either fails it answers and reports
// false. The origin is checked first, so that a cross-site body is never
// read.
func (u *UI) readForm(w http.ResponseWriter, r *http.Request) bool {
	if err := u.crossOri.Check(r); err != nil {
		u.forbidden(w, r, crossSiteRefused)
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		u.errorPage(w, r, http.StatusBadRequest, "Bad form", "The form could not be read.")
		return false
	}
	return true
}

// csrfRefused says why a form without its CSRF token was refused.
const csrfRefused = "This form is missing its security token, or the token belongs to another session (for example after signing in again elsewhere)."

// crossSiteRefused says why a form sent from another site was refused.
const crossSiteRefused = "This form was sent from another site, so patchctl did not accept it."

// session resolves the session cookie and returns the request with the
// session in its context; without a live session it answers (sign-in page,
// or an error) and reports false.
func (u *UI) session(w http.ResponseWriter, r *http.Request) (*service.WebSession, *http.Request, bool) {
	s, err := u.svc.Session(r.Context(), u.cookie(r, cookieSession))
	if err != nil {
		if patchctl.ErrorCode(err) != patchctl.CodeUnauthorized {
			u.failed(w, r, err)
			return nil, r, false
		}
		reason := reasonSignIn
		if u.cookie(r, cookieSession) != "" {
			u.setCookie(w, r, cookieSession, "", -1, http.SameSiteLaxMode)
			reason = reasonEnded
			switch {
			case errors.Is(err, service.ErrSessionIdle):
				reason = reasonIdle
			case errors.Is(err, service.ErrSessionExpired):
				reason = reasonExpired
			case errors.Is(err, service.ErrSessionRevoked):
				reason = reasonRevoked
			}
		}
		u.toSignIn(w, r, reason)
		return nil, r, false
	}
	return s, r.WithContext(context.WithValue(r.Context(), sessionKey{}, s)), true
}

// sameToken compares a submitted token with the expected one in constant
// time; an empty submission never matches.
func sameToken(got, want string) bool {
	return got != "" && want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// Why the sign-in page is shown; each has a fixed message (signInReasons),
// so that a crafted link cannot make the page say anything else.
const (
	reasonSignIn    = "signin"
	reasonEnded     = "ended"
	reasonIdle      = "idle"
	reasonExpired   = "expired"
	reasonRevoked   = "revoked"
	reasonSignedOut = "signedout"
)

var signInReasons = map[string]string{
	reasonSignIn:    "Sign in to continue.",
	reasonEnded:     "Your session has ended. Sign in again.",
	reasonIdle:      "Your session ended after " + strconv.Itoa(int(service.SessionIdle.Hours())) + " hours without use. Sign in again.",
	reasonExpired:   "Your session expired (sessions last at most " + strconv.Itoa(int(service.SessionMaxAge.Hours()/24)) + " days). Sign in again.",
	reasonRevoked:   "Your session ended because its API token was revoked or expired. Sign in with a valid token.",
	reasonSignedOut: "You are signed out.",
}

// toSignIn sends the browser to the sign-in page, keeping where it was going
// (for a GET) so that it returns there after signing in. htmx requests get
// HX-Redirect so that the whole page changes, not a fragment.
func (u *UI) toSignIn(w http.ResponseWriter, r *http.Request, reason string) {
	q := url.Values{"reason": {reason}}
	if r.Method == http.MethodGet && !isHTMX(r) {
		q.Set("next", r.URL.RequestURI())
	}
	target := "/signin?" + q.Encode()
	if isHTMX(r) {
		w.Header().Set("HX-Redirect", target)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// safeNext accepts only paths of this site as a place to return to.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") ||
		strings.HasPrefix(next, "/signin") || strings.ContainsAny(next, "\r\n") {
		return "/"
	}
	return next
}

func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// flash leaves a one-time message for the next page (after a redirect).
func (u *UI) flash(w http.ResponseWriter, r *http.Request, msg string) {
	u.setCookie(w, r, cookieFlash, base64.RawURLEncoding.EncodeToString([]byte(msg)), 60, http.SameSiteLaxMode)
}

// takeFlash returns and clears the pending message.
func (u *UI) takeFlash(w http.ResponseWriter, r *http.Request) string {
	v := u.cookie(r, cookieFlash)
	if v == "" {
		return ""
	}
	u.setCookie(w, r, cookieFlash, "", -1, http.SameSiteLaxMode)
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil || len(b) > 500 {
		return ""
	}
	return string(b)
}

// done redirects after a successful form with a message for the next page.
func (u *UI) done(w http.ResponseWriter, r *http.Request, to, msg string) {
	if msg != "" {
		u.flash(w, r, msg)
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}
