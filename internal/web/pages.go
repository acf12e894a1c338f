package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"path"
	"strings"
	"time"
	"unicode"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// PageCSP is the Content-Security-Policy of every page: nothing but our
// own files, no framing, no <base>, forms only to ourselves.
const PageCSP = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// maxFormBytes bounds a page form's body; the UI's forms are small.
const maxFormBytes = 64 << 10

// Brand is what differs between the three services' pages.
type Brand struct {
	Key  string // "cpanel", "whm", "webmail": CSS class suffix
	Name string // "cPanel", "WHM", "Webmail"
}

func brandOf(svc core.Service) Brand {
	switch svc {
	case core.ServiceWHM:
		return Brand{Key: "whm", Name: "WHM"}
	case core.ServiceWebmail:
		return Brand{Key: "webmail", Name: "Webmail"}
	}
	return Brand{Key: "cpanel", Name: "cPanel"}
}

// serviceName turns a stored session's service ("cpaneld", ...) into the
// name users know.
func serviceName(app string) string {
	switch app {
	case "cpaneld":
		return "cPanel"
	case "whostmgrd":
		return "WHM"
	case "webmaild":
		return "Webmail"
	}
	return app
}

// assetVersion is a short hash of the embedded static files, appended to
// their URLs so that a new build is never served a stale cached copy.
var assetVersion = func() string {
	h := sha256.New()
	fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", p, len(b))
		h.Write(b)
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:12]
}()

var funcs = template.FuncMap{
	"fmtTime": fmtTime,
	"isoTime": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"fmtDur":  fmtDur,
	"asset":   func(name string) string { return "/static/" + name + "?v=" + assetVersion },
	"join":    strings.Join,
}

// fmtTime shows a time in UTC, to the minute; zero shows as "never".
func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

func fmtDur(d time.Duration) string {
	plural := func(n int, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return fmt.Sprintf("%d %ss", n, unit)
	}
	switch {
	case d <= 0:
		return "0 minutes"
	case d%(24*time.Hour) == 0:
		return plural(int(d/(24*time.Hour)), "day")
	case d%time.Hour == 0:
		return plural(int(d/time.Hour), "hour")
	case d%time.Minute == 0:
		return plural(int(d/time.Minute), "minute")
	}
	return d.Round(time.Second).String()
}

var pageNames = []string{"login", "home", "tokens", "sessions", "cphulk", "notfound", "refused", "tfa", "twofactor"}

// pages holds one template set per page, each with the shared layout.
var pages = func() map[string]*template.Template {
	m := map[string]*template.Template{}
	for _, name := range pageNames {
		m[name] = template.Must(template.New(name+".html").Funcs(funcs).ParseFS(templateFS,
			"templates/layout.html", "templates/nav.html", "templates/"+name+".html"))
	}
	return m
}()

// SetPageHeaders sets the security headers every page response carries
// (the server may use it for pages it writes itself).
func SetPageHeaders(h http.Header) {
	h.Set("Content-Security-Policy", PageCSP)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "same-origin")
}

// render executes a page into a buffer first so that a template error
// never leaves half a page behind.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	var buf bytes.Buffer
	h := w.Header()
	SetPageHeaders(h)
	if err := pages[name].Execute(&buf, data); err != nil {
		s.logError(r, "web: rendering a page", err, "page", name)
		h.Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintln(w, "The system experienced an internal error.")
		return
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(buf.Bytes())
	}
}

func (s *Server) logError(r *http.Request, msg string, err error, kv ...any) {
	if s.Log == nil {
		return
	}
	args := append([]any{"error", err.Error(), "path", r.URL.Path}, kv...)
	s.Log.Error(msg, args...)
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// ---------------------------------------------------------------------------
// Login page.

type loginData struct {
	Title     string
	Brand     Brand
	Message   string
	MessageOK bool
	UserLabel string
	User      string
	GotoURI   string
	TFA       bool
	// Passkey offers passwordless sign-in (this address may use passkeys).
	Passkey bool
}

// tfaCodes are the message codes that ask for the second factor.
var tfaCodes = map[string]bool{"tfa_required": true, "tfa_invalid": true, "tfa_missing": true}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request, svc core.Service, status int, msgCode string) {
	d := loginData{
		Title:     "Log in",
		Brand:     brandOf(svc),
		UserLabel: "Username",
		TFA:       tfaCodes[msgCode],
		Passkey:   s.passkeysUsable(r),
	}
	if svc == core.ServiceWebmail {
		d.UserLabel = "Email address"
	}
	if msgCode != "" {
		d.Message = Messages[msgCode]
		if d.Message == "" {
			d.Message = Messages["invalid_login"]
		}
		d.MessageOK = msgCode == "logged_out"
	}
	// A failed form login keeps the user name and the landing page (never
	// the password); a GET may name the landing page in its query.
	var user, gotoURI string
	if r.Method == http.MethodPost {
		if r.PostForm == nil {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
			_ = r.ParseForm()
		}
		user = r.PostForm.Get("user")
		gotoURI = r.PostForm.Get("goto_uri")
	} else {
		gotoURI = r.URL.Query().Get("goto_uri")
	}
	if msgCode != "logged_out" && printable(user, 256) {
		d.User = user
	}
	if SafeGotoURI(gotoURI) {
		d.GotoURI = gotoURI
	}
	if msgCode == "logged_out" {
		// Browsers may keep pages in the back/forward cache despite
		// no-store (Chromium does when only an HttpOnly cookie changed and
		// the page was cached before the change was seen); this empties it
		// for the origin, so that Back after logging out fetches again.
		w.Header().Set("Clear-Site-Data", ClearSiteDataOnLogout)
	}
	s.render(w, r, status, "login", d)
}

// ClearSiteDataOnLogout is the Clear-Site-Data value of the logged-out
// page: the origin's HTTP and back/forward caches, not its cookies (they
// are shared by every port of the host: clearing them would end the
// user's other services' sessions too).
const ClearSiteDataOnLogout = `"cache"`

// printable reports whether s is short, valid text without control
// characters.
func printable(s string, max int) bool {
	if len(s) > max {
		return false
	}
	for _, c := range s {
		if c == unicode.ReplacementChar || unicode.IsControl(c) {
			return false
		}
	}
	return true
}

// SafeGotoURI reports whether a post-login target is a local path: it
// starts with one slash (not "//" or "/\", which browsers read as another
// host) and holds no control characters or backslashes.
func SafeGotoURI(u string) bool {
	if u == "" || len(u) > 2048 || u[0] != '/' {
		return false
	}
	if len(u) > 1 && (u[1] == '/' || u[1] == '\\') {
		return false
	}
	return printable(u, 2048) && !strings.ContainsRune(u, '\\')
}

// ---------------------------------------------------------------------------
// Private pages.

type pageData struct {
	Title     string
	Brand     Brand
	Token     string
	Principal core.Principal
	Session   store.Session
	CanTokens bool
	// CanHulk: the brute-force protection page (root on WHM).
	CanHulk bool
	// Page names the current page for the navigation ("home", "tokens",
	// "sessions").
	Page string
}

func (s *Server) base(v Visit, page, title string) pageData {
	return pageData{
		Title:     title,
		Brand:     brandOf(v.Principal.Service),
		Token:     v.Session.SecurityToken,
		Principal: v.Principal,
		Session:   v.Session,
		CanTokens: s.canTokens(v.Principal),
		CanHulk:   s.canHulk(v.Principal),
		Page:      page,
	}
}

// crossOrigin refuses state-changing requests a browser made on behalf of
// another site (Sec-Fetch-Site, then Origin against Host).
var crossOrigin = http.NewCrossOriginProtection()

// privateRoute is a page behind a session: a form's target (POST) or a
// page to read (GET and HEAD).
type privateRoute struct {
	post  bool
	serve func(*Server, http.ResponseWriter, *http.Request, Visit)
}

// privateRoutes are the pages behind a session, by path.
var privateRoutes = map[string]privateRoute{
	"/":                 {false, (*Server).home},
	"/index.html":       {false, (*Server).home},
	"/tokens/":          {false, (*Server).tokensPage},
	"/tokens":           {false, (*Server).tokensPage},
	"/tokens/create":    {true, (*Server).tokensCreate},
	"/tokens/revoke":    {true, (*Server).tokensRevoke},
	"/sessions/":        {false, (*Server).sessionsPage},
	"/sessions":         {false, (*Server).sessionsPage},
	"/sessions/end":     {true, (*Server).sessionsEnd},
	"/twofactor/":       {false, (*Server).twoFactorPage},
	"/twofactor":        {false, (*Server).twoFactorPage},
	"/twofactor/qr.png": {false, (*Server).twoFactorQR},
	"/twofactor/enable": {true, (*Server).twoFactorEnable},
	"/twofactor/remove": {true, (*Server).twoFactorRemove},
	"/cphulk/":          {false, (*Server).hulkPage},
	"/cphulk":           {false, (*Server).hulkPage},
	"/cphulk/unblock":   {true, (*Server).hulkUnblock},
}

func (s *Server) private(w http.ResponseWriter, r *http.Request, v Visit) {
	rest := v.Rest
	if rest == "" {
		rest = "/"
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodPost:
		if err := crossOrigin.Check(r); err != nil {
			s.refuse(w, r, v, http.StatusForbidden, "This form was sent from another site, so it was refused.")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			s.refuse(w, r, v, http.StatusBadRequest, "The form could not be read.")
			return
		}
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		s.refuse(w, r, v, http.StatusMethodNotAllowed, "This page does not accept that request method.")
		return
	}
	post := r.Method == http.MethodPost
	route, ok := privateRoutes[rest]
	if !ok {
		s.render(w, r, http.StatusNotFound, "notfound", s.base(v, "", "Page not found"))
		return
	}
	if route.post == post {
		route.serve(s, w, r, v)
		return
	}
	if post {
		w.Header().Set("Allow", "GET, HEAD")
	} else {
		w.Header().Set("Allow", "POST")
	}
	s.refuse(w, r, v, http.StatusMethodNotAllowed, "This page does not accept that request method.")
}

type refusedData struct {
	pageData
	Status  int
	Message string
}

// refuse answers with a short error page that keeps the navigation.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, v Visit, status int, msg string) {
	s.render(w, r, status, "refused", refusedData{pageData: s.base(v, "", http.StatusText(status)), Status: status, Message: msg})
}

// seeOther redirects after a successful POST so that reloading the page
// does not send the form again.
func seeOther(w http.ResponseWriter, r *http.Request, to string) {
	SetPageHeaders(w.Header())
	http.Redirect(w, r, to, http.StatusSeeOther)
}

type homeData struct {
	pageData
	Privileges []string
	IdleEnds   time.Time
}

func (s *Server) home(w http.ResponseWriter, r *http.Request, v Visit) {
	d := homeData{pageData: s.base(v, "home", "Home")}
	if v.Principal.Service == core.ServiceWHM {
		if v.Principal.IsRootLike() {
			d.Privileges = []string{core.ACLAll}
		} else {
			d.Privileges = v.Principal.ACLs.Names()
		}
	}
	if v.Session.IdleTimeout > 0 {
		seen := v.Session.LastSeen
		if now := s.now(); seen.IsZero() || now.After(seen) {
			seen = now // this request is a use
		}
		d.IdleEnds = seen.Add(v.Session.IdleTimeout)
		if !v.Session.Expires.IsZero() && d.IdleEnds.After(v.Session.Expires) {
			d.IdleEnds = v.Session.Expires
		}
	}
	s.render(w, r, http.StatusOK, "home", d)
}

// callFor builds the API call a page makes as the visiting principal.
func callFor(r *http.Request, v Visit, fl api.Flavour, module, fn string, args api.Args) *api.Call {
	return &api.Call{Flavour: fl, Module: module, Func: fn, Args: args, Principal: v.Principal, Remote: remoteAddr(r), Host: r.Host}
}

func remoteAddr(r *http.Request) netip.Addr {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().Unmap()
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, _ := netip.ParseAddr(host)
	return a.Unmap()
}

// ---------------------------------------------------------------------------
// Static files.

// Static serves the embedded style sheet and script. Mount it at /static/
// on every port; the files are public and cacheable.
func (s *Server) Static() http.Handler {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err)
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ok := strings.CutPrefix(r.URL.Path, "/static/")
		if !ok || name == "" || strings.HasSuffix(name, "/") || path.Clean("/"+name) != "/"+name {
			notFoundPlain(w)
			return
		}
		if _, err := fs.Stat(sub, name); err != nil {
			notFoundPlain(w)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "Method not allowed.", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", PageCSP)
		h.Set("Cache-Control", "public, max-age=86400")
		r2 := r.Clone(r.Context())
		r2.URL.Path = "/" + name
		files.ServeHTTP(w, r2)
	})
}

func notFoundPlain(w http.ResponseWriter) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	http.Error(w, "Not found.", http.StatusNotFound)
}
