package web

import (
	"net/http"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/service"
)

// signInData is the sign-in page.
type signInData struct {
	base
	Notice string
	Next   string
	Form   *form
}

// signInPage shows the sign-in form. A person who is already signed in goes
// on to where they were going.
func (u *UI) signInPage(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.URL.Query().Get("next"))
	if secret := u.cookie(r, cookieSession); secret != "" {
		if _, err := u.svc.Session(r.Context(), secret); err == nil {
			http.Redirect(w, r, next, http.StatusSeeOther)
			return
		}
	}
	u.showSignIn(w, r, http.StatusOK, signInReasons[r.URL.Query().Get("reason")], next, newForm(nil))
}

// showSignIn renders the form with a fresh pre-session CSRF token: the form
// posts it back in a field and the browser in a cookie, and both must
// match, so that another site cannot sign a browser in with its own token.
func (u *UI) showSignIn(w http.ResponseWriter, r *http.Request, status int, notice, next string, f *form) {
	tok := randomToken()
	u.setCookie(w, r, cookieSignIn, tok, 3600, http.SameSiteStrictMode)
	d := signInData{base: base{Title: "Sign in", Now: u.svc.Now(), CSRF: tok, Status: status}, Notice: notice, Next: next, Form: f}
	u.render(w, r, "signin", status, d)
}

// signIn exchanges the token for a session and sets the session cookie.
func (u *UI) signIn(w http.ResponseWriter, r *http.Request) {
	if !u.readForm(w, r) {
		return
	}
	if !sameToken(r.PostForm.Get("csrf"), u.cookie(r, cookieSignIn)) {
		u.forbidden(w, r, "The sign-in form is missing its security token, or it expired.")
		return
	}
	next := safeNext(r.PostForm.Get("next"))
	f := newForm(nil) // the token itself is never echoed back
	ns, err := u.svc.SignIn(r.Context(), r.PostForm.Get("token"), r.UserAgent())
	if err != nil {
		status := http.StatusUnauthorized
		if c := patchctl.ErrorCode(err); c != patchctl.CodeUnauthorized && c != patchctl.CodeInvalid {
			u.failed(w, r, err)
			return
		} else if c == patchctl.CodeInvalid {
			status = http.StatusBadRequest
		}
		f.fail(err, map[string]string{"token": "token"})
		u.showSignIn(w, r, status, "", next, f)
		return
	}
	u.setCookie(w, r, cookieSignIn, "", -1, http.SameSiteStrictMode)
	// The cookie lives as long as the session may; the server decides
	// earlier ends (idle, revoked token).
	u.setCookie(w, r, cookieSession, ns.Secret, int(ns.ExpiresAt.Sub(u.svc.Now()).Seconds()), http.SameSiteLaxMode)
	u.done(w, r, next, "Signed in as "+ns.Actor.Name+" ("+string(ns.Actor.Role)+").")
}

// signOut ends the session, clears the cookie and shows the sign-in page.
func (u *UI) signOut(w http.ResponseWriter, r *http.Request, s *service.WebSession) {
	if err := u.svc.SignOut(r.Context(), u.cookie(r, cookieSession)); err != nil {
		u.failed(w, r, err)
		return
	}
	u.setCookie(w, r, cookieSession, "", -1, http.SameSiteLaxMode)
	http.Redirect(w, r, "/signin?reason="+reasonSignedOut, http.StatusSeeOther)
}
