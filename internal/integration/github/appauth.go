package github

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	gh "github.com/google/go-github/v93/github"

	"github.com/patchctl/patchctl"
)

// AppAuth authenticates a Client as one installation of a GitHub App.
// The client signs a short-lived JWT (RS256) with the app's private key,
// exchanges it for an installation token (valid one hour) and renews the
// token five minutes before it expires.
type AppAuth struct {
	// ClientID (preferred by GitHub) or AppID identifies the app: the JWT
	// issuer. One is required.
	ClientID string
	AppID    int64
	// InstallationID is the installation on the organisation or account
	// that owns the repositories.
	InstallationID int64
	// PrivateKeyPEM is the app's private key as GitHub issues it (PKCS #1,
	// "RSA PRIVATE KEY") or as PKCS #8.
	PrivateKeyPEM []byte
}

// renewBefore is how long before expiry an installation token is renewed,
// so that a token never expires during a request.
const renewBefore = 5 * time.Minute

// appTransport adds a current installation token to every request for the
// API origin.
type appTransport struct {
	auth  AppAuth
	key   *rsa.PrivateKey
	base  http.RoundTripper
	api   *url.URL
	hc    *http.Client
	clock patchctl.Clock
	log   *slog.Logger

	mu      sync.Mutex
	token   string
	expires time.Time
}

func newAppTransport(a AppAuth, base string, hc *http.Client, clock patchctl.Clock, log *slog.Logger) (*appTransport, error) {
	if a.ClientID == "" && a.AppID <= 0 {
		return nil, patchctl.FieldError("github.app.client_id", "a client id or an app id is required")
	}
	if a.InstallationID <= 0 {
		return nil, patchctl.FieldError("github.app.installation_id", "is required")
	}
	key, err := parseRSAKey(a.PrivateKeyPEM)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(base)
	if err != nil {
		return nil, patchctl.FieldError("github.base_url", "%v", err)
	}
	rt := hc.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	return &appTransport{auth: a, key: key, base: rt, api: u, hc: hc, clock: clock, log: log}, nil
}

func parseRSAKey(b []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, patchctl.FieldError("github.app.private_key", "is not PEM")
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, &patchctl.Error{Code: patchctl.CodeInvalid, Field: "github.app.private_key", Message: "is not an RSA private key", Err: err}
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, patchctl.FieldError("github.app.private_key", "is a %T, want an RSA key", k)
	}
	return rk, nil
}

// RoundTrip implements http.RoundTripper.
func (t *appTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != t.api.Scheme || req.URL.Host != t.api.Host {
		// Never send the token anywhere but the API.
		return t.base.RoundTrip(req)
	}
	tok, err := t.installationToken(req.Context())
	if err != nil {
		return nil, err
	}
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+tok)
	return t.base.RoundTrip(req)
}

// installationToken returns a token valid for at least renewBefore,
// minting one when needed. Concurrent callers wait for one mint.
func (t *appTransport) installationToken(ctx context.Context) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.clock()
	if t.token != "" && now.Add(renewBefore).Before(t.expires) {
		return t.token, nil
	}
	jwt, err := t.jwt(now)
	if err != nil {
		return "", err
	}
	// The JWT authenticates this one call only; a separate client keeps it
	// away from the installation token's transport.
	base := t.api.String()
	hc := *t.hc
	hc.Transport = t.base
	minter, err := gh.NewClient(gh.WithHTTPClient(&hc), gh.WithURLs(&base, &base), gh.WithAuthToken(jwt))
	if err != nil {
		return "", patchctl.FieldError("github.base_url", "%v", err)
	}
	it, _, err := minter.Apps.CreateInstallationToken(ctx, t.auth.InstallationID, nil)
	if err != nil {
		return "", apiError("mint an installation token", err)
	}
	if it.GetToken() == "" {
		return "", patchctl.Errorf(patchctl.CodeUnavailable, "github: mint an installation token: GitHub returned no token")
	}
	t.token = it.GetToken()
	t.expires = it.GetExpiresAt().Time
	if t.expires.IsZero() {
		t.expires = now.Add(time.Hour)
	}
	t.log.InfoContext(ctx, "installation_token_minted", "installation", t.auth.InstallationID, "expires_at", t.expires.UTC())
	return t.token, nil
}

// jwt signs the app's JWT: issued a minute in the past (GitHub's advice
// against clock drift), expiring after nine minutes (GitHub allows ten).
func (t *appTransport) jwt(now time.Time) (string, error) {
	claims := map[string]any{
		"iat": now.Add(-time.Minute).Unix(),
		"exp": now.Add(9 * time.Minute).Unix(),
	}
	if t.auth.ClientID != "" {
		claims["iss"] = t.auth.ClientID
	} else {
		claims["iss"] = t.auth.AppID
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + enc.EncodeToString(payload)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, t.key, crypto.SHA256, sum[:])
	if err != nil {
		return "", &patchctl.Error{Code: patchctl.CodeInternal, Message: "signing the GitHub App JWT failed", Err: err}
	}
	return signing + "." + enc.EncodeToString(sig), nil
}
