package githubtest

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	gh "github.com/google/go-github/v93/github"
)

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /repos/{owner}/{repo}", s.getRepo)
	mux.HandleFunc("GET /repos/{owner}/{repo}/git/ref/{ref...}", s.getRef)
	mux.HandleFunc("POST /repos/{owner}/{repo}/git/refs", s.createRef)
	mux.HandleFunc("GET /repos/{owner}/{repo}/compare/{basehead...}", s.compare)
	mux.HandleFunc("GET /repos/{owner}/{repo}/pulls", s.listPulls)
	mux.HandleFunc("POST /repos/{owner}/{repo}/pulls", s.createPull)
	mux.HandleFunc("GET /repos/{owner}/{repo}/pulls/{number}", s.getPull)
	mux.HandleFunc("GET /repos/{owner}/{repo}/pulls/{number}/reviews", s.listReviews)
	mux.HandleFunc("GET /repos/{owner}/{repo}/commits/{rest...}", s.commitSub)
	mux.HandleFunc("POST /app/installations/{id}/access_tokens", s.accessToken)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "Not Found")
	})
	return s.middleware(mux)
}

// recorder captures the status for the call log.
type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// middleware records the call, applies injected faults, checks the
// credentials and sets GitHub's rate limit headers.
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			s.mu.Lock()
			s.calls = append(s.calls, Call{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Body: string(body), Status: rec.status})
			s.mu.Unlock()
		}()
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("X-GitHub-Request-Id", randHex(8))
		s.wait(r)
		if f, ok := s.takeFault(r); ok {
			for k, vs := range f.header {
				w.Header()[k] = vs
			}
			rec.WriteHeader(f.status)
			io.WriteString(w, f.body)
			return
		}
		if !s.authorized(r) {
			writeError(rec, http.StatusUnauthorized, "Bad credentials")
			return
		}
		s.mu.Lock()
		s.rateUsed++
		used, reset := s.rateUsed, s.now().Add(time.Hour).Unix()
		s.mu.Unlock()
		w.Header().Set("X-RateLimit-Limit", "5000")
		w.Header().Set("X-RateLimit-Remaining", strconv.Itoa(max(5000-used, 1)))
		w.Header().Set("X-RateLimit-Used", strconv.Itoa(used))
		w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(reset, 10))
		w.Header().Set("X-RateLimit-Resource", "core")
		next.ServeHTTP(rec, r)
	})
}

func (s *Server) takeFault(r *http.Request) (fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.faults {
		f := &s.faults[i]
		if f.times > 0 && (f.method == "" || f.method == r.Method) && strings.HasPrefix(r.URL.Path, f.pathPrefix) {
			f.times--
			return *f, true
		}
	}
	return fault{}, false
}

// authorized accepts the server token everywhere but /app/, and for the
// app endpoints a valid JWT of the enabled app.
func (s *Server) authorized(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		tok, ok = strings.CutPrefix(h, "token ")
	}
	if !ok || tok == "" {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if strings.HasPrefix(r.URL.Path, "/app/") {
		return s.app != nil && s.validJWT(tok)
	}
	if tok == s.Token {
		return true
	}
	exp, ok := s.appToks[tok]
	return ok && s.now().Before(exp)
}

// validJWT checks an RS256 JWT against the app's key and GitHub's rules:
// issuer, expiry in the future and at most ten minutes after issue.
func (s *Server) validJWT(tok string) bool {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return false
	}
	enc := base64.RawURLEncoding
	hdr, err1 := enc.DecodeString(parts[0])
	payload, err2 := enc.DecodeString(parts[1])
	sig, err3 := enc.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil {
		return false
	}
	var h struct{ Alg string }
	if json.Unmarshal(hdr, &h) != nil || h.Alg != "RS256" {
		return false
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(s.app.PublicKey, crypto.SHA256, sum[:], sig) != nil {
		return false
	}
	var c struct {
		Iat, Exp int64
		Iss      json.RawMessage
	}
	if json.Unmarshal(payload, &c) != nil {
		return false
	}
	var iss string
	if json.Unmarshal(c.Iss, &iss) != nil {
		var n int64
		if json.Unmarshal(c.Iss, &n) != nil {
			return false
		}
		iss = strconv.FormatInt(n, 10)
	}
	if iss != s.app.ClientID && iss != strconv.FormatInt(s.app.AppID, 10) {
		return false
	}
	now := s.now().Unix()
	return c.Exp > now && c.Iat <= now+60 && c.Exp-c.Iat <= 11*60
}

func (s *Server) accessToken(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id := r.PathValue("id"); id != strconv.FormatInt(s.app.InstallationID, 10) {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	tok := "ghs_" + randHex(18)
	exp := s.now().Add(s.app.TokenTTL).UTC().Truncate(time.Second)
	s.appToks[tok] = exp
	writeJSON(w, http.StatusCreated, &gh.InstallationToken{Token: gh.Ptr(tok), ExpiresAt: &gh.Timestamp{Time: exp}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

// writeError writes GitHub's error shape.
func writeError(w http.ResponseWriter, status int, message string, errs ...gh.Error) {
	body := map[string]any{"message": message, "documentation_url": "https://docs.github.com/rest", "status": strconv.Itoa(status)}
	if len(errs) > 0 {
		body["errors"] = errs
	}
	writeJSON(w, status, body)
}

// repo finds the request's repository; it writes the 404 itself.
func (s *Server) repo(w http.ResponseWriter, r *http.Request) *Repo {
	rp, ok := s.repos[strings.ToLower(r.PathValue("owner")+"/"+r.PathValue("repo"))]
	if !ok {
		writeError(w, http.StatusNotFound, "Not Found")
		return nil
	}
	return rp
}

func (s *Server) repoJSON(rp *Repo) *gh.Repository {
	owner, name, _ := strings.Cut(rp.FullName, "/")
	return &gh.Repository{
		ID: gh.Ptr(rp.id), Name: gh.Ptr(name), FullName: gh.Ptr(rp.FullName), Private: gh.Ptr(true),
		Owner:         &gh.User{Login: gh.Ptr(owner), Type: gh.Ptr("Organization")},
		HTMLURL:       gh.Ptr(s.srv.URL + "/" + rp.FullName),
		URL:           gh.Ptr(s.URL + "repos/" + rp.FullName),
		DefaultBranch: gh.Ptr(rp.DefaultBranch),
	}
}

func (s *Server) getRepo(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rp := s.repo(w, r); rp != nil {
		writeJSON(w, http.StatusOK, s.repoJSON(rp))
	}
}

func (s *Server) refJSON(rp *Repo, ref, sha string) *gh.Reference {
	return &gh.Reference{
		Ref: gh.Ptr(ref), NodeID: gh.Ptr("REF_" + sha[:12]),
		URL: gh.Ptr(s.URL + "repos/" + rp.FullName + "/git/" + ref),
		Object: &gh.GitObject{Type: gh.Ptr("commit"), SHA: gh.Ptr(sha),
			URL: gh.Ptr(s.URL + "repos/" + rp.FullName + "/git/commits/" + sha)},
	}
}

func (s *Server) getRef(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repo(w, r)
	if rp == nil {
		return
	}
	ref := "refs/" + r.PathValue("ref")
	sha, err := revParse(rp.Dir, ref)
	if err != nil || !strings.HasPrefix(ref, "refs/heads/") && !strings.HasPrefix(ref, "refs/tags/") {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	writeJSON(w, http.StatusOK, s.refJSON(rp, ref, sha))
}

func (s *Server) createRef(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repo(w, r)
	if rp == nil {
		return
	}
	var in gh.CreateRef
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeError(w, http.StatusBadRequest, "Problems parsing JSON")
		return
	}
	if !strings.HasPrefix(in.Ref, "refs/") || strings.Count(in.Ref, "/") < 2 {
		writeError(w, http.StatusUnprocessableEntity, "Reference name must start with 'refs/' and have at least two slashes.")
		return
	}
	if _, err := git(rp.Dir, "check-ref-format", in.Ref); err != nil {
		writeError(w, http.StatusUnprocessableEntity, in.Ref+" is not a valid ref name.")
		return
	}
	if !isCommit(rp.Dir, in.SHA) {
		writeError(w, http.StatusUnprocessableEntity, "Object does not exist")
		return
	}
	if _, err := revParse(rp.Dir, in.Ref); err == nil {
		writeError(w, http.StatusUnprocessableEntity, "Reference already exists")
		return
	}
	if err := createRef(rp.Dir, in.Ref, in.SHA); err != nil {
		writeError(w, http.StatusUnprocessableEntity, "Reference already exists")
		return
	}
	writeJSON(w, http.StatusCreated, s.refJSON(rp, in.Ref, in.SHA))
}

func (s *Server) compare(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repo(w, r)
	if rp == nil {
		return
	}
	base, head, ok := strings.Cut(r.PathValue("basehead"), "...")
	if !ok {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	baseSHA, err1 := revParse(rp.Dir, base)
	headSHA, err2 := revParse(rp.Dir, head)
	if err1 != nil || err2 != nil {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	ahead, err1 := aheadBy(rp.Dir, baseSHA, headSHA)
	behind, err2 := aheadBy(rp.Dir, headSHA, baseSHA)
	if err1 != nil || err2 != nil {
		writeError(w, http.StatusInternalServerError, "Server Error")
		return
	}
	status := "identical"
	switch {
	case ahead > 0 && behind > 0:
		status = "diverged"
	case ahead > 0:
		status = "ahead"
	case behind > 0:
		status = "behind"
	}
	writeJSON(w, http.StatusOK, &gh.CommitsComparison{
		BaseCommit: &gh.RepositoryCommit{SHA: gh.Ptr(baseSHA)},
		Status:     gh.Ptr(status), AheadBy: gh.Ptr(ahead), BehindBy: gh.Ptr(behind), TotalCommits: gh.Ptr(ahead),
		HTMLURL: gh.Ptr(s.srv.URL + "/" + rp.FullName + "/compare/" + base + "..." + head),
	})
}

// page applies page and per_page (default 30, at most 100) to n items and
// sets the Link header GitHub sends.
func (s *Server) page(w http.ResponseWriter, r *http.Request, n int) (lo, hi int) {
	q := r.URL.Query()
	per, _ := strconv.Atoi(q.Get("per_page"))
	if per <= 0 {
		per = 30
	}
	per = min(per, s.maxPerPage)
	pg, _ := strconv.Atoi(q.Get("page"))
	pg = max(pg, 1)
	last := max((n+per-1)/per, 1)
	link := func(p int, rel string) string {
		q.Set("page", strconv.Itoa(p))
		q.Set("per_page", strconv.Itoa(per))
		u := url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path, RawQuery: q.Encode()}
		return fmt.Sprintf("<%s>; rel=%q", u.String(), rel)
	}
	var links []string
	if pg < last {
		links = append(links, link(pg+1, "next"), link(last, "last"))
	}
	if pg > 1 {
		links = append(links, link(1, "first"), link(pg-1, "prev"))
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
	lo = min((pg-1)*per, n)
	return lo, min(lo+per, n)
}

func (s *Server) listPulls(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repo(w, r)
	if rp == nil {
		return
	}
	q := r.URL.Query()
	state := q.Get("state")
	if state == "" {
		state = "open"
	}
	headOwner, headRef, hasOwner := strings.Cut(q.Get("head"), ":")
	if !hasOwner {
		headOwner, headRef = "", headOwner
	}
	var out []*gh.PullRequest
	for _, p := range rp.pulls {
		s.refreshHead(rp, p)
		switch {
		case state != "all" && p.GetState() != state:
		case headRef != "" && p.GetHead().GetRef() != headRef:
		case headOwner != "" && !strings.EqualFold(p.GetHead().GetRepo().GetOwner().GetLogin(), headOwner):
		case q.Get("base") != "" && p.GetBase().GetRef() != q.Get("base"):
		default:
			out = append(out, p)
		}
	}
	lo, hi := s.page(w, r, len(out))
	writeJSON(w, http.StatusOK, emptyIfNil(out[lo:hi]))
}

func emptyIfNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func (s *Server) createPull(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repo(w, r)
	if rp == nil {
		return
	}
	var in gh.CreatePullRequest
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeError(w, http.StatusBadRequest, "Problems parsing JSON")
		return
	}
	invalid := func(field, code, msg string) {
		writeError(w, http.StatusUnprocessableEntity, "Validation Failed",
			gh.Error{Resource: "PullRequest", Field: field, Code: code, Message: msg})
	}
	headRef := in.Head
	if _, ref, ok := strings.Cut(in.Head, ":"); ok {
		headRef = ref
	}
	if in.GetTitle() == "" {
		invalid("title", "missing_field", "")
		return
	}
	headSHA, err := revParse(rp.Dir, "refs/heads/"+headRef)
	if err != nil {
		invalid("head", "invalid", "")
		return
	}
	baseSHA, err := revParse(rp.Dir, "refs/heads/"+in.Base)
	if err != nil {
		invalid("base", "invalid", "")
		return
	}
	for _, p := range rp.pulls {
		if p.GetState() == "open" && p.GetHead().GetRef() == headRef && p.GetBase().GetRef() == in.Base {
			owner, _, _ := strings.Cut(rp.FullName, "/")
			invalid("", "custom", fmt.Sprintf("A pull request already exists for %s:%s.", owner, headRef))
			return
		}
	}
	if ahead, err := aheadBy(rp.Dir, baseSHA, headSHA); err != nil || ahead == 0 {
		invalid("", "custom", fmt.Sprintf("No commits between %s and %s", in.Base, headRef))
		return
	}
	rp.nextNum++
	s.nextID++
	owner, _, _ := strings.Cut(rp.FullName, "/")
	repoJSON := s.repoJSON(rp)
	now := &gh.Timestamp{Time: s.now().UTC().Truncate(time.Second)}
	p := &gh.PullRequest{
		ID: gh.Ptr(s.nextID), Number: gh.Ptr(rp.nextNum), State: gh.Ptr("open"), Locked: gh.Ptr(false),
		Title: in.Title, Body: in.Body, Draft: gh.Ptr(in.GetDraft()),
		User:      &gh.User{Login: gh.Ptr(s.Login), Type: gh.Ptr("Bot")},
		CreatedAt: now, UpdatedAt: now,
		URL:     gh.Ptr(fmt.Sprintf("%srepos/%s/pulls/%d", s.URL, rp.FullName, rp.nextNum)),
		HTMLURL: gh.Ptr(fmt.Sprintf("%s/%s/pull/%d", s.srv.URL, rp.FullName, rp.nextNum)),
		Head: &gh.PullRequestBranch{Label: gh.Ptr(owner + ":" + headRef), Ref: gh.Ptr(headRef), SHA: gh.Ptr(headSHA),
			Repo: repoJSON, User: repoJSON.Owner},
		Base: &gh.PullRequestBranch{Label: gh.Ptr(owner + ":" + in.Base), Ref: gh.Ptr(in.Base), SHA: gh.Ptr(baseSHA),
			Repo: repoJSON, User: repoJSON.Owner},
		Merged: gh.Ptr(false), MergeableState: gh.Ptr("unknown"), AuthorAssociation: gh.Ptr("NONE"),
	}
	rp.pulls = append(rp.pulls, p)
	writeJSON(w, http.StatusCreated, p)
}

func (s *Server) pullFromPath(w http.ResponseWriter, r *http.Request) (*Repo, *gh.PullRequest) {
	rp := s.repo(w, r)
	if rp == nil {
		return nil, nil
	}
	n, err := strconv.Atoi(r.PathValue("number"))
	p := rp.pull(n)
	if err != nil || p == nil {
		writeError(w, http.StatusNotFound, "Not Found")
		return nil, nil
	}
	s.refreshHead(rp, p)
	return rp, p
}

func (s *Server) getPull(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, p := s.pullFromPath(w, r); p != nil {
		writeJSON(w, http.StatusOK, p)
	}
}

func (s *Server) listReviews(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, p := s.pullFromPath(w, r)
	if p == nil {
		return
	}
	all := rp.reviews[p.GetNumber()]
	lo, hi := s.page(w, r, len(all))
	writeJSON(w, http.StatusOK, emptyIfNil(all[lo:hi]))
}

// commitSub serves /commits/{ref}/check-runs and /commits/{ref}/status;
// the ref may contain slashes, so the suffix is matched by hand.
func (s *Server) commitSub(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repo(w, r)
	if rp == nil {
		return
	}
	rest := r.PathValue("rest")
	var ref, what string
	for _, suffix := range []string{"/check-runs", "/status"} {
		if head, ok := strings.CutSuffix(rest, suffix); ok {
			ref, what = head, suffix
		}
	}
	sha, err := revParse(rp.Dir, ref)
	if what == "" || err != nil {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	if what == "/check-runs" {
		s.checkRuns(w, r, rp, sha)
		return
	}
	s.status(w, r, rp, sha)
}

func (s *Server) checkRuns(w http.ResponseWriter, r *http.Request, rp *Repo, sha string) {
	var runs []*gh.CheckRun
	latest := r.URL.Query().Get("filter") != "all"
	for i := len(rp.runs) - 1; i >= 0; i-- {
		run := rp.runs[i]
		if run.GetHeadSHA() != sha {
			continue
		}
		if latest && slices.ContainsFunc(runs, func(c *gh.CheckRun) bool { return c.GetName() == run.GetName() }) {
			continue
		}
		runs = append(runs, run)
	}
	lo, hi := s.page(w, r, len(runs))
	writeJSON(w, http.StatusOK, &gh.ListCheckRunsResults{Total: gh.Ptr(len(runs)), CheckRuns: emptyIfNil(runs[lo:hi])})
}

func (s *Server) status(w http.ResponseWriter, r *http.Request, rp *Repo, sha string) {
	var latest []*gh.RepoStatus
	all := rp.statuses[sha]
	for i := len(all) - 1; i >= 0; i-- {
		if !slices.ContainsFunc(latest, func(x *gh.RepoStatus) bool { return x.GetContext() == all[i].GetContext() }) {
			latest = append(latest, all[i])
		}
	}
	state := "success"
	if len(latest) == 0 {
		state = "pending"
	}
	for _, st := range latest {
		switch st.GetState() {
		case "error", "failure":
			state = "failure"
		case "pending":
			if state != "failure" {
				state = "pending"
			}
		}
	}
	lo, hi := s.page(w, r, len(latest))
	writeJSON(w, http.StatusOK, &gh.CombinedStatus{State: gh.Ptr(state), SHA: gh.Ptr(sha), TotalCount: gh.Ptr(len(latest)),
		Statuses: emptyIfNil(latest[lo:hi]), RepositoryURL: gh.Ptr(s.URL + "repos/" + rp.FullName)})
}
