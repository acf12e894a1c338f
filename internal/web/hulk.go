package web

import (
	"net/http"
	"time"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/hulk"
	"github.com/cpauth/cpauth/internal/store"
)

// The brute-force protection page (WHM, root): the blocks in force, each
// with an Unblock button, and the regulator's state.

type blockRow struct {
	Kind     string // store.HulkBlock* kind
	What     string // "Address", "Address (one day)", "User"
	Key      string // the address (or /64) or the login name
	Shown    string
	User     string
	Address  string
	Service  string
	Reason   string
	Failures int
	Since    time.Time
	Until    time.Time
	Left     time.Duration
}

type hulkData struct {
	pageData
	Enabled bool
	Config  hulk.Config
	Blocks  []blockRow
	Error   string
	Notice  string
}

// canHulk reports whether the visitor may manage the regulator: whoever may
// call get_cphulk_brutes (root, on WHM).
func (s *Server) canHulk(p core.Principal) bool {
	if s.Registry == nil || s.Env == nil || s.Env.Hulk == nil || p.Service != core.ServiceWHM {
		return false
	}
	f, ok := s.Registry.Lookup(api.WHM1, "", "get_cphulk_brutes")
	return ok && f.Permitted(p) == nil
}

func (s *Server) hulkPage(w http.ResponseWriter, r *http.Request, v Visit) {
	s.showHulk(w, r, v, http.StatusOK, "")
}

func (s *Server) showHulk(w http.ResponseWriter, r *http.Request, v Visit, status int, errMsg string) {
	if !s.canHulk(v.Principal) {
		s.render(w, r, http.StatusNotFound, "notfound", s.base(v, "", "Page not found"))
		return
	}
	h := s.Env.Hulk
	d := hulkData{pageData: s.base(v, "cphulk", "Brute force protection"), Enabled: h.Config().Enabled, Config: h.Config(), Error: errMsg}
	bs, err := h.Blocks(r.Context())
	if err != nil {
		s.logError(r, "web: listing cphulk blocks", err)
		d.Error = core.Message(core.Internal(err))
		status = http.StatusInternalServerError
	}
	now := s.now()
	for _, b := range bs {
		row := blockRow{Kind: b.Kind, Key: b.Key, Shown: hulk.ShowRange(b.Key), User: b.User, Address: b.Address, Service: serviceName(b.Service),
			Reason: b.Reason, Failures: b.Failures, Since: b.Created, Until: b.Until, Left: b.Until.Sub(now).Round(time.Minute)}
		switch b.Kind {
		case store.HulkBlockUser:
			row.What, row.Shown = "User", b.Key
		case store.HulkBlockExcessive:
			row.What = "Address (one day)"
		default:
			row.What = "Address"
		}
		d.Blocks = append(d.Blocks, row)
	}
	if r.URL.Query().Get("unblocked") == "1" && status == http.StatusOK {
		d.Notice = "The block was lifted."
	}
	s.render(w, r, status, "cphulk", d)
}

func (s *Server) hulkUnblock(w http.ResponseWriter, r *http.Request, v Visit) {
	if !s.canHulk(v.Principal) {
		s.render(w, r, http.StatusNotFound, "notfound", s.base(v, "", "Page not found"))
		return
	}
	kind, key := r.PostForm.Get("kind"), r.PostForm.Get("key")
	switch kind {
	case store.HulkBlockIP, store.HulkBlockExcessive, store.HulkBlockUser:
	default:
		s.showHulk(w, r, v, http.StatusBadRequest, "That is not a block.")
		return
	}
	n, err := s.Env.Hulk.Unblock(r.Context(), kind, key)
	if err != nil {
		s.logError(r, "web: lifting a cphulk block", err)
		s.refuse(w, r, v, http.StatusInternalServerError, core.Message(core.Internal(err)))
		return
	}
	if n == 0 {
		s.showHulk(w, r, v, http.StatusNotFound, "That block does not exist or has already ended.")
		return
	}
	if s.Log != nil {
		s.Log.Info("cphulk block lifted from the WHM page", "by", v.Principal.User, "kind", kind, "key", key)
	}
	seeOther(w, r, v.Session.SecurityToken+"/cphulk/?unblocked=1")
}
