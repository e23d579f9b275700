package web

import (
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/patchctl/patchctl"
)

// form is the state of one form as the page shows it: the values to put in
// its fields (what the person typed, after a refusal) and the errors to
// show next to them.
type form struct {
	Values url.Values
	Errors map[string]string
	// Message is the form's own error, for what belongs to no one field.
	Message string
	// Gates are the refusing gates, when a gate refused the action.
	Gates []patchctl.GateResult
}

// pageForms is the state of the forms of a page that has several (the
// patch page, the finding page), by name: Failed names the one that was
// just refused, and Alert is that form when it has something to say at the
// top of the page.
type pageForms struct {
	Forms  map[string]*form
	Failed string
	Alert  *form
}

// newPageForms starts every named form empty, except the one just refused
// (failed), which keeps f: what the person typed and what was wrong.
func newPageForms(names []string, failed string, f *form) pageForms {
	pf := pageForms{Forms: make(map[string]*form, len(names)), Failed: failed}
	for _, name := range names {
		pf.Forms[name] = newForm(nil)
	}
	if failed != "" && f != nil {
		pf.Forms[failed] = f
		if f.Failed() {
			pf.Alert = f
		}
	}
	return pf
}

func newForm(values url.Values) *form {
	if values == nil {
		values = url.Values{}
	}
	return &form{Values: values, Errors: map[string]string{}}
}

// postedForm is the form a request posted, as the page shows it again: a
// copy of its fields without the CSRF token.
func postedForm(r *http.Request) *form {
	values := make(url.Values, len(r.PostForm))
	for k, vs := range r.PostForm {
		if k != "csrf" {
			values[k] = append([]string(nil), vs...)
		}
	}
	return newForm(values)
}

// Get returns the value of a field.
func (f *form) Get(name string) string {
	if f == nil {
		return ""
	}
	return f.Values.Get(name)
}

// All returns every value of a multi-valued field (checkboxes).
func (f *form) All(name string) []string {
	if f == nil {
		return nil
	}
	return f.Values[name]
}

// Err returns the error of a field.
func (f *form) Err(name string) string {
	if f == nil {
		return ""
	}
	return f.Errors[name]
}

// Failed reports whether the form has any error to show.
func (f *form) Failed() bool {
	return f != nil && (f.Message != "" || len(f.Errors) > 0 || len(f.Gates) > 0)
}

// Default gives a field a value unless the person already gave it one.
func (f *form) Default(name, value string) *form {
	if _, ok := f.Values[name]; !ok && value != "" {
		f.Values.Set(name, value)
	}
	return f
}

// require records a "required" error for each empty field; it reports
// whether all were given.
func (f *form) require(fields map[string]string) bool {
	ok := true
	for name, msg := range fields {
		if strings.TrimSpace(f.Get(name)) == "" {
			f.Errors[name] = msg
			ok = false
		}
	}
	return ok
}

var indexSuffix = regexp.MustCompile(`\[\d+\]`)

// fail puts a service error on the form: an invalid field next to its
// input (fields maps the service's field path, indexes removed, to the
// form's input name), refusing gates as a list, anything else as the
// form's message.
func (f *form) fail(err error, fields map[string]string) {
	var e *patchctl.Error
	if !errors.As(err, &e) {
		f.Message = patchctl.ErrorMessage(err)
		return
	}
	if e.Code == patchctl.CodeGate {
		f.Gates = e.Gates
		f.Message = e.Message
		return
	}
	if e.Field != "" {
		path := indexSuffix.ReplaceAllString(e.Field, "")
		for p := path; p != ""; {
			if name, ok := fields[p]; ok {
				f.Errors[name] = e.Message
				return
			}
			i := strings.LastIndexByte(p, '.')
			if i < 0 {
				break
			}
			p = p[:i]
		}
		f.Message = e.Field + ": " + e.Message
		return
	}
	f.Message = e.Message
}

// formError puts a service error on the form of a page about to be shown
// again (see fail) and reports true. An error that is not the person's to
// fix by changing the form (internal, unavailable) gets the error page
// instead, and formError reports false.
func (u *UI) formError(w http.ResponseWriter, r *http.Request, f *form, err error, fields map[string]string) bool {
	if c := patchctl.ErrorCode(err); c == patchctl.CodeInternal || c == patchctl.CodeUnavailable {
		u.failed(w, r, err)
		return false
	}
	f.fail(err, fields)
	return true
}
