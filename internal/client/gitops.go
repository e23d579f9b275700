package client

import (
	"bytes"
	"context"
	"io"
	"net/url"
	"strconv"

	"github.com/patchctl/patchctl/internal/gitops"
	"github.com/patchctl/patchctl/internal/store"
)

// OpenBranch creates the patch's dedicated branch, or opens its draft pull
// request once the branch has commits.
func (c *Client) OpenBranch(ctx context.Context, key string) (*gitops.BranchResult, error) {
	var out gitops.BranchResult
	return &out, c.do(ctx, "POST", "/patches/"+esc(key)+"/branch", nil, nil, &out)
}

// ImportPlan uploads `terraform show -json` of a plan as the patch's
// evidence.
func (c *Client) ImportPlan(ctx context.Context, key string, r io.Reader, ref string) (*gitops.PlanImport, error) {
	var out gitops.PlanImport
	return &out, c.upload(ctx, "/patches/"+esc(key)+"/tfplan", refQuery(ref), r, &out)
}

// ImportState uploads `terraform show -json` of the state after apply.
func (c *Client) ImportState(ctx context.Context, key string, r io.Reader, ref string) (*gitops.StateImport, error) {
	var out gitops.StateImport
	return &out, c.upload(ctx, "/patches/"+esc(key)+"/tfstate", refQuery(ref), r, &out)
}

// ImportHelm uploads `helm history -o json` (or `helm status -o json`) of a
// release deploying app in env.
func (c *Client) ImportHelm(ctx context.Context, app, env, release string, data []byte) (*gitops.HelmImport, error) {
	q := url.Values{"application": {app}, "environment": {env}}
	if release != "" {
		q.Set("release", release)
	}
	var out gitops.HelmImport
	return &out, c.upload(ctx, "/releases/helm", q, bytes.NewReader(data), &out)
}

// Deliveries lists recorded webhook deliveries, newest first.
func (c *Client) Deliveries(ctx context.Context, f store.DeliveryFilter) ([]store.Delivery, error) {
	q := url.Values{}
	for k, v := range map[string]string{"source": f.Source, "status": f.Status, "event": f.Event, "patch": f.PatchKey, "repository": f.Repository} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if f.BeforeID > 0 {
		q.Set("before", strconv.FormatInt(f.BeforeID, 10))
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	var out []store.Delivery
	if err := c.do(ctx, "GET", "/deliveries", q, nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// Delivery reads one recorded delivery with its payload.
func (c *Client) Delivery(ctx context.Context, id int64) (*store.Delivery, error) {
	var out store.Delivery
	return &out, c.do(ctx, "GET", "/deliveries/"+strconv.FormatInt(id, 10), nil, nil, &out)
}

func refQuery(ref string) url.Values {
	if ref == "" {
		return nil
	}
	return url.Values{"ref": {ref}}
}

// upload posts a raw document (a plan, a release history) and decodes the
// JSON answer; like every upload it is untimed.
func (c *Client) upload(ctx context.Context, path string, query url.Values, body io.Reader, out any) error {
	req, err := c.newRequest(ctx, "POST", path, query, body, "application/octet-stream")
	if err != nil {
		return err
	}
	resp, err := c.exec(req, true)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return decodeJSON(resp.Body, out)
}
