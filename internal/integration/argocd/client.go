package argocd

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/textutil"
)

// maxResponseBytes bounds an API response. An Application carries the
// status of every resource it manages; large ones reach a few megabytes.
const maxResponseBytes = 32 << 20

// Config configures a Client.
type Config struct {
	// BaseURL is the Argo CD server, e.g. https://argocd.example.com (with
	// a path prefix if Argo CD is served under one, --rootpath).
	BaseURL string
	// Token is an Argo CD API token (argocd account generate-token),
	// sent as a bearer token. The account needs get on applications, sync
	// for rollbacks and update to turn auto-sync off.
	Token string
	// AppNamespace is sent with every request for Argo CD set up with
	// applications in any namespace; "" means Argo CD's own namespace.
	AppNamespace string
	// InsecureSkipVerify turns off TLS certificate verification. It exists
	// for lab installs with self-signed certificates; with it anyone on the
	// path can read the token. Prefer HTTPClient with the right CA pool.
	InsecureSkipVerify bool
	// HTTPClient replaces the default client (30 s timeout, system roots).
	// It cannot be combined with InsecureSkipVerify: configure its
	// transport instead.
	HTTPClient *http.Client
}

// Client calls the Argo CD REST API (/api/v1). It is safe for concurrent
// use.
type Client struct {
	base         *url.URL
	token        string
	appNamespace string
	http         *http.Client
}

// NewClient checks cfg and returns a client. Nothing is sent until the
// first call.
func NewClient(cfg Config) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, patchctl.FieldError("argocd.url", "%q is not an http(s) URL of an Argo CD server", clip(cfg.BaseURL))
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, patchctl.FieldError("argocd.url", "must not carry a query or fragment")
	}
	if cfg.Token == "" {
		return nil, patchctl.FieldError("argocd.token", "missing API token")
	}
	hc := cfg.HTTPClient
	switch {
	case hc != nil && cfg.InsecureSkipVerify:
		return nil, patchctl.FieldError("argocd.insecure_skip_verify", "cannot be combined with a custom HTTP client; configure its transport")
	case hc == nil:
		tr := http.DefaultTransport.(*http.Transport).Clone()
		if cfg.InsecureSkipVerify {
			tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // opt-in, documented on Config
		}
		hc = &http.Client{Transport: tr, Timeout: 30 * time.Second}
	}
	return &Client{base: u, token: cfg.Token, appNamespace: cfg.AppNamespace, http: hc}, nil
}

// GetApplication reads an Application with its status and history.
func (c *Client) GetApplication(ctx context.Context, name string) (*Application, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	body, err := c.do(ctx, http.MethodGet, c.appPath(name), c.query(), nil, name)
	if err != nil {
		return nil, err
	}
	return c.parse(body, name)
}

// Rollback redeploys the history entry historyID of an Application
// (POST /api/v1/applications/{name}/rollback) and returns the Application
// with the rollback operation requested; Argo CD runs it asynchronously.
// With prune, resources absent from the old revision are deleted; with
// dryRun nothing changes.
//
// Argo CD refuses a rollback while automated sync is on (it would sync
// forward again at once). Rollback reads the Application first and returns
// CodeConflict saying so without calling; the caller may then, with the
// operator's explicit confirmation, call DisableAutoSync and retry. It also
// returns CodeConflict while another operation is running and CodeNotFound
// for a history id the Application does not have.
func (c *Client) Rollback(ctx context.Context, name string, historyID int64, prune, dryRun bool) (*Application, error) {
	if historyID < 0 {
		return nil, patchctl.FieldError("history_id", "must not be negative, found %d", historyID)
	}
	app, err := c.GetApplication(ctx, name)
	if err != nil {
		return nil, err
	}
	switch {
	case app.AutoSync:
		return nil, patchctl.Errorf(patchctl.CodeConflict,
			"argocd application %s has automated sync enabled, and Argo CD refuses a rollback while it is: "+
				"turn auto-sync off first (with the operator's confirmation), then roll back", name)
	case app.Deleting:
		return nil, patchctl.Errorf(patchctl.CodeConflict, "argocd application %s is being deleted", name)
	case app.OperationPending:
		return nil, patchctl.Errorf(patchctl.CodeConflict,
			"argocd application %s has an operation in progress; wait for it to finish or terminate it", name)
	}
	if _, ok := app.HistoryEntry(historyID); !ok {
		return nil, patchctl.Errorf(patchctl.CodeNotFound,
			"argocd application %s has no deployment history entry %d", name, historyID)
	}
	req := map[string]any{"name": name, "id": historyID, "prune": prune, "dryRun": dryRun}
	if c.appNamespace != "" {
		req["appNamespace"] = c.appNamespace
	}
	body, err := c.do(ctx, http.MethodPost, c.appPath(name)+"/rollback", nil, req, name)
	if err != nil {
		return nil, err
	}
	return c.parse(body, name)
}

// DisableAutoSync removes spec.syncPolicy.automated from an Application
// (PATCH /api/v1/applications/{name} with a JSON merge patch), leaving its
// other sync options as they are. Call it only with the explicit
// confirmation of an operator: the Application then stops following git
// until someone turns automated sync back on. If the Application is
// managed by another controller (Application.ManagedBy, e.g. an
// ApplicationSet), that controller may turn it back on.
func (c *Client) DisableAutoSync(ctx context.Context, name string) (*Application, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	req := map[string]any{
		"name":      name,
		"patch":     `{"spec":{"syncPolicy":{"automated":null}}}`,
		"patchType": "merge",
	}
	if c.appNamespace != "" {
		req["appNamespace"] = c.appNamespace
	}
	body, err := c.do(ctx, http.MethodPatch, c.appPath(name), nil, req, name)
	if err != nil {
		return nil, err
	}
	app, err := c.parse(body, name)
	if err != nil {
		return nil, err
	}
	if app.AutoSync {
		return nil, patchctl.Errorf(patchctl.CodeConflict, "argocd application %s still has automated sync enabled after the patch", name)
	}
	return app, nil
}

// appName is a Kubernetes object name (DNS-1123 subdomain), which is what
// an Application's name must be. Checking it keeps the name a single plain
// path segment.
var appName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`)

func checkName(name string) error {
	switch {
	case name == "":
		return patchctl.FieldError("application", "missing application name")
	case len(name) > 253 || !appName.MatchString(name):
		return patchctl.FieldError("application", "%q is not an Argo CD application name", clip(name))
	}
	return nil
}

func (c *Client) appPath(name string) string {
	return "/api/v1/applications/" + name
}

func (c *Client) query() url.Values {
	if c.appNamespace == "" {
		return nil
	}
	return url.Values{"appNamespace": {c.appNamespace}}
}

func (c *Client) parse(body []byte, name string) (*Application, error) {
	app, err := ParseApplication(body)
	if err != nil {
		return nil, &patchctl.Error{Code: patchctl.CodeUnavailable,
			Message: fmt.Sprintf("argocd returned an unreadable application %s", name), Err: err}
	}
	return app, nil
}

// do sends one request and returns the body of a 2xx response.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, in any, name string) ([]byte, error) {
	u := *c.base
	u.Path = c.base.Path + path // path holds only checked names: no escaping
	u.RawPath = ""
	u.RawQuery = query.Encode()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, &patchctl.Error{Code: patchctl.CodeInternal, Message: "encoding argocd request failed", Err: err}
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, &patchctl.Error{Code: patchctl.CodeInternal, Message: "building argocd request failed", Err: err}
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, &patchctl.Error{Code: patchctl.CodeUnavailable, Message: "argocd request cancelled", Err: err}
		}
		return nil, &patchctl.Error{Code: patchctl.CodeUnavailable, Message: "argocd is unreachable", Err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return nil, &patchctl.Error{Code: patchctl.CodeUnavailable, Message: "reading the argocd response failed", Err: err}
	}
	if len(data) > maxResponseBytes {
		return nil, patchctl.Errorf(patchctl.CodeUnavailable, "argocd response is larger than %d bytes", maxResponseBytes)
	}
	if resp.StatusCode/100 != 2 {
		return nil, apiError(resp.StatusCode, data, method, name)
	}
	return data, nil
}

// apiErrorBody is the error body of Argo CD's API gateway: the gRPC status
// message (in error and message) and code.
type apiErrorBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
	Code    int    `json:"code"`
}

// gRPC status codes Argo CD's API reports.
const (
	grpcInvalidArgument    = 3
	grpcNotFound           = 5
	grpcAlreadyExists      = 6
	grpcPermissionDenied   = 7
	grpcFailedPrecondition = 9
	grpcAborted            = 10
	grpcUnauthenticated    = 16
)

// apiError maps an Argo CD error response to a *patchctl.Error. Argo CD's
// message describes the application, not patchctl, so it is shown.
func apiError(status int, data []byte, method, name string) error {
	var b apiErrorBody
	_ = json.Unmarshal(data, &b) // a proxy may answer with HTML; the status still tells
	msg := b.Message
	if msg == "" {
		msg = b.Error
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	cause := fmt.Errorf("argocd %s application %s: HTTP %d, gRPC code %d: %s", method, name, status, b.Code, clip(string(data)))
	code := patchctl.CodeUnavailable
	switch {
	case status == http.StatusUnauthorized || b.Code == grpcUnauthenticated:
		code, msg = patchctl.CodeUnauthorized, "argocd rejected the API token: "+msg
	case status == http.StatusForbidden || b.Code == grpcPermissionDenied:
		// Argo CD also answers 403 for applications that do not exist, so
		// as not to reveal which do.
		code, msg = patchctl.CodeForbidden, "argocd denied access to application "+name+" (or it does not exist): "+msg
	case status == http.StatusNotFound || b.Code == grpcNotFound:
		code, msg = patchctl.CodeNotFound, "argocd application "+name+" not found: "+msg
	case b.Code == grpcFailedPrecondition || b.Code == grpcAborted || b.Code == grpcAlreadyExists || status == http.StatusConflict:
		code, msg = patchctl.CodeConflict, "argocd refused: "+msg
	case status == http.StatusBadRequest || b.Code == grpcInvalidArgument:
		code, msg = patchctl.CodeInvalid, "argocd refused the request: "+msg
	case status >= 500:
		msg = "argocd failed: " + msg
	default:
		msg = fmt.Sprintf("argocd answered HTTP %d: %s", status, msg)
	}
	return &patchctl.Error{Code: code, Message: textutil.Clip(msg, 300), Err: cause}
}
