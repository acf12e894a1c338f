package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/functions"
)

// The token page calls the API functions themselves, as the visiting
// principal, so that every rule and every error text is the API's own.
// WHM sessions manage WHM tokens (WHM API 1), cPanel sessions cPanel
// tokens (UAPI Tokens); Webmail has none.

type tokenRow struct {
	Name       string
	Created    time.Time
	Expires    time.Time // zero: never
	Expired    bool
	ACLs       []string // WHM tokens only
	IPs        []string
	LastUsed   time.Time
	LastUsedIP string
	ReadOnly   bool
	RequireOTP bool
}

type aclChoice struct {
	Name    string
	Checked bool
}

// tokenForm is the create form as the user filled it in, to show again
// after an error.
type tokenForm struct {
	Name       string
	Expires    string // YYYY-MM-DD
	IPs        string
	ReadOnly   bool
	RequireOTP bool
}

type tokensData struct {
	pageData
	WHM        bool
	Tokens     []tokenRow
	ACLChoices []aclChoice
	Form       tokenForm
	Error      string
	Notice     string
	// NewToken is shown once, right after it was created.
	NewToken     string
	NewTokenName string
	MinDate      string
}

// tokenAPI names the functions of the visitor's service.
type tokenAPI struct {
	flavour                api.Flavour
	module                 string
	list, create, revoke   string
	nameArg, revokeNameArg string
}

var (
	whmTokenAPI    = tokenAPI{api.WHM1, "", "api_token_list", "api_token_create", "api_token_revoke", "token_name", "token_name"}
	cpanelTokenAPI = tokenAPI{api.UAPI, "Tokens", "list", "create_full_access", "revoke", "name", "name"}
)

func tokenAPIFor(p core.Principal) (tokenAPI, bool) {
	switch p.Service {
	case core.ServiceWHM:
		return whmTokenAPI, true
	case core.ServiceCPanel:
		return cpanelTokenAPI, true
	}
	return tokenAPI{}, false
}

// canTokens reports whether the principal may list its tokens (and so
// whether the pages link to the token page).
func (s *Server) canTokens(p core.Principal) bool {
	ta, ok := tokenAPIFor(p)
	if !ok || s.Registry == nil {
		return false
	}
	f, ok := s.Registry.Lookup(ta.flavour, ta.module, ta.list)
	return ok && f.Permitted(p) == nil
}

func (s *Server) run(ctx context.Context, c *api.Call) (*api.Result, error) {
	if c.Flavour == api.WHM1 {
		return functions.RunWHM1(ctx, s.Registry, c)
	}
	return functions.RunUAPI(ctx, s.Registry, c)
}

// statusOf maps an API error to the page's HTTP status.
func statusOf(err error) int {
	switch core.KindOf(err) {
	case core.KindInvalid, core.KindNotFound:
		return http.StatusBadRequest
	case core.KindExists:
		return http.StatusConflict
	case core.KindPermission, core.KindUnauthenticated:
		return http.StatusForbidden
	case core.KindInternal:
		return http.StatusInternalServerError
	}
	return http.StatusBadRequest
}

func (s *Server) newTokensData(v Visit) tokensData {
	d := tokensData{
		pageData: s.base(v, "tokens", "Manage API Tokens"),
		WHM:      v.Principal.Service == core.ServiceWHM,
		MinDate:  s.now().UTC().Format("2006-01-02"),
	}
	if d.WHM {
		for _, n := range core.KnownACLs {
			if v.Principal.IsRootLike() || v.Principal.ACLs[n] {
				d.ACLChoices = append(d.ACLChoices, aclChoice{Name: n})
			}
		}
	}
	return d
}

// loadTokens fills in the list; an error goes to d.Error and the status.
func (s *Server) loadTokens(r *http.Request, v Visit, ta tokenAPI, d *tokensData) int {
	res, err := s.run(r.Context(), callFor(r, v, ta.flavour, ta.module, ta.list, api.Args{}))
	if err != nil {
		if core.KindOf(err) == core.KindInternal {
			s.logError(r, "web: listing API tokens", err)
		}
		d.Error = core.Message(err)
		return statusOf(err)
	}
	rows, err := tokenRows(res.Data, ta.flavour == api.WHM1, s.now())
	if err != nil {
		s.logError(r, "web: reading the API token list", err)
		d.Error = core.Message(core.Internal(err))
		return http.StatusInternalServerError
	}
	d.Tokens = rows
	return http.StatusOK
}

func (s *Server) tokensPage(w http.ResponseWriter, r *http.Request, v Visit) {
	ta, ok := tokenAPIFor(v.Principal)
	if !ok {
		s.render(w, r, http.StatusNotFound, "notfound", s.base(v, "", "Page not found"))
		return
	}
	d := s.newTokensData(v)
	status := s.loadTokens(r, v, ta, &d)
	if name := r.URL.Query().Get("revoked"); name != "" && functions.ValidateTokenName(name) == nil && status == http.StatusOK {
		d.Notice = fmt.Sprintf("The API token “%s” was revoked.", name)
	}
	s.render(w, r, status, "tokens", d)
}

func (s *Server) tokensCreate(w http.ResponseWriter, r *http.Request, v Visit) {
	ta, ok := tokenAPIFor(v.Principal)
	if !ok {
		s.render(w, r, http.StatusNotFound, "notfound", s.base(v, "", "Page not found"))
		return
	}
	f := r.PostForm
	d := s.newTokensData(v)
	d.Form = tokenForm{
		Name:       strings.TrimSpace(f.Get("name")),
		Expires:    strings.TrimSpace(f.Get("expires")),
		IPs:        f.Get("whitelist_ip"),
		ReadOnly:   f.Get("readonly") != "",
		RequireOTP: f.Get("require_otp") != "",
	}
	var args api.Args
	args.Add(ta.nameArg, d.Form.Name)
	status := http.StatusOK
	if d.Form.Expires != "" {
		at, err := expiryFromDate(d.Form.Expires)
		if err != nil {
			d.Error = err.Error()
			status = http.StatusBadRequest
		}
		args.Add("expires_at", strconv.FormatInt(at, 10))
	}
	for i, ip := range splitList(d.Form.IPs) {
		args.Add("whitelist_ip-"+strconv.Itoa(i), ip)
	}
	if d.Form.RequireOTP {
		args.Add("require_otp", "1")
	}
	if d.WHM {
		picked := map[string]bool{}
		for _, a := range f["acl"] {
			picked[a] = true
		}
		n := 0
		for i := range d.ACLChoices {
			if picked[d.ACLChoices[i].Name] {
				d.ACLChoices[i].Checked = true
				args.Add("acl-"+strconv.Itoa(n), d.ACLChoices[i].Name)
				n++
			}
		}
		// An ACL that is not offered is passed on too, so that the API
		// refuses it in its own words.
		for _, a := range f["acl"] {
			if !containsChoice(d.ACLChoices, a) {
				args.Add("acl-"+strconv.Itoa(n), a)
				n++
			}
		}
	} else if d.Form.ReadOnly {
		args.Add("readonly", "1")
	}
	if d.Error == "" {
		res, err := s.run(r.Context(), callFor(r, v, ta.flavour, ta.module, ta.create, args))
		if err != nil {
			if core.KindOf(err) == core.KindInternal {
				s.logError(r, "web: creating an API token", err)
			}
			d.Error = core.Message(err)
			status = statusOf(err)
		} else {
			d.NewToken = newTokenText(res.Data)
			d.NewTokenName = d.Form.Name
			d.Form = tokenForm{}
			for i := range d.ACLChoices {
				d.ACLChoices[i].Checked = false
			}
		}
	}
	if st := s.loadTokens(r, v, ta, &d); st != http.StatusOK && status == http.StatusOK {
		status = st
	}
	s.render(w, r, status, "tokens", d)
}

func containsChoice(cs []aclChoice, name string) bool {
	for _, c := range cs {
		if c.Name == name {
			return true
		}
	}
	return false
}

func (s *Server) tokensRevoke(w http.ResponseWriter, r *http.Request, v Visit) {
	ta, ok := tokenAPIFor(v.Principal)
	if !ok {
		s.render(w, r, http.StatusNotFound, "notfound", s.base(v, "", "Page not found"))
		return
	}
	name := r.PostForm.Get("name")
	var args api.Args
	args.Add(ta.revokeNameArg, name)
	if _, err := s.run(r.Context(), callFor(r, v, ta.flavour, ta.module, ta.revoke, args)); err != nil {
		if core.KindOf(err) == core.KindInternal {
			s.logError(r, "web: revoking an API token", err)
		}
		d := s.newTokensData(v)
		d.Error = core.Message(err)
		status := statusOf(err)
		s.loadTokens(r, v, ta, &d)
		s.render(w, r, status, "tokens", d)
		return
	}
	seeOther(w, r, v.Session.SecurityToken+"/tokens/?revoked="+url.QueryEscape(name))
}

// expiryFromDate turns the form's date into the API's Unix time: the end
// of that day, UTC.
func expiryFromDate(s string) (int64, error) {
	day, err := time.Parse("2006-01-02", s)
	if err != nil {
		return 0, fmt.Errorf("“%s” is not a date: use the form YYYY-MM-DD.", clip(s, 40))
	}
	return day.Add(24*time.Hour - time.Second).Unix(), nil
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

// splitList splits the allowed-addresses box on white space and commas.
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(c rune) bool {
		return c == ',' || c == ';' || c == ' ' || c == '\t' || c == '\n' || c == '\r'
	})
}

// The API's output, read back through its JSON form (the shape clients
// see) rather than its Go types.
type apiToken struct {
	Name         string          `json:"name"`
	CreateTime   int64           `json:"create_time"`
	ExpiresAt    *int64          `json:"expires_at"`
	WhitelistIPs []string        `json:"whitelist_ips"`
	ACLs         json.RawMessage `json:"acls"`
	LastUsed     *int64          `json:"last_used"`
	LastUsedIP   *string         `json:"last_used_ip"`
	ReadOnly     int             `json:"readonly"`
	RequireOTP   int             `json:"require_otp"`
}

func tokenRows(data any, whm bool, now time.Time) ([]tokenRow, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return nil, err
	}
	var list []apiToken
	if whm {
		var out struct {
			Tokens map[string]apiToken `json:"tokens"`
		}
		if err := json.Unmarshal(raw, &out); err != nil {
			return nil, err
		}
		for _, t := range out.Tokens {
			list = append(list, t)
		}
	} else if err := json.Unmarshal(raw, &list); err != nil {
		return nil, err
	}
	rows := make([]tokenRow, 0, len(list))
	for _, t := range list {
		row := tokenRow{
			Name:       t.Name,
			Created:    time.Unix(t.CreateTime, 0),
			IPs:        t.WhitelistIPs,
			ReadOnly:   t.ReadOnly == 1,
			RequireOTP: t.RequireOTP == 1,
		}
		if t.ExpiresAt != nil && *t.ExpiresAt > 0 {
			row.Expires = time.Unix(*t.ExpiresAt, 0)
			row.Expired = !now.Before(row.Expires)
		}
		if t.LastUsed != nil && *t.LastUsed > 0 {
			row.LastUsed = time.Unix(*t.LastUsed, 0)
		}
		if t.LastUsedIP != nil {
			row.LastUsedIP = *t.LastUsedIP
		}
		if whm {
			row.ACLs = aclNames(t.ACLs)
		}
		rows = append(rows, row)
	}
	sort.Slice(rows, func(i, j int) bool {
		if !rows[i].Created.Equal(rows[j].Created) {
			return rows[i].Created.Before(rows[j].Created)
		}
		return rows[i].Name < rows[j].Name
	})
	return rows, nil
}

// aclNames reads a token's ACLs: api_token_list gives an object of every
// ACL to 0/1; create gives a list.
func aclNames(raw json.RawMessage) []string {
	var m map[string]int
	if json.Unmarshal(raw, &m) == nil {
		if m[core.ACLAll] == 1 {
			return []string{core.ACLAll}
		}
		var out []string
		for _, n := range core.KnownACLs {
			if m[n] == 1 {
				out = append(out, n)
			}
		}
		return out
	}
	var l []string
	_ = json.Unmarshal(raw, &l)
	return l
}

// newTokenText is the token from a create call's data.
func newTokenText(data any) string {
	raw, err := json.Marshal(data)
	if err != nil {
		return ""
	}
	var out struct {
		Token string `json:"token"`
	}
	_ = json.Unmarshal(raw, &out)
	return out.Token
}
