package functions

import (
	"strconv"

	"github.com/cpauth/cpauth/internal/api"
)

// userInformation is Variables::get_user_information's data: the object of
// fields(). It writes its own JSON (api.JSONAppender), keys in the sorted
// order JSON gives that map, so that a call builds and sorts no map.
type userInformation struct {
	contactEmail string
	created      int64
	domain       string
	domains      []string
	home         string
	isReseller   int
	owner        string
	plan         string
	suspended    int
	user         string
}

// fields is the object as a map (the name argument selects from it).
func (u *userInformation) fields() map[string]any {
	return map[string]any{
		"user":          u.user,
		"domain":        u.domain,
		"domains":       u.domains,
		"contact_email": u.contactEmail,
		"created":       u.created,
		"owner":         u.owner,
		"plan":          u.plan,
		"home":          u.home,
		"suspended":     u.suspended,
		"is_reseller":   u.isReseller,
		"lang":          "english",
		"locale":        "en",
		"theme":         "jupiter",
	}
}

// AppendJSON appends the JSON of fields().
func (u *userInformation) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"contact_email":`...)
	dst = api.AppendJSONString(dst, u.contactEmail)
	dst = append(dst, `,"created":`...)
	dst = strconv.AppendInt(dst, u.created, 10)
	dst = append(dst, `,"domain":`...)
	dst = api.AppendJSONString(dst, u.domain)
	dst = append(dst, `,"domains":`...)
	dst = api.AppendJSONStrings(dst, u.domains)
	dst = append(dst, `,"home":`...)
	dst = api.AppendJSONString(dst, u.home)
	dst = append(dst, `,"is_reseller":`...)
	dst = strconv.AppendInt(dst, int64(u.isReseller), 10)
	dst = append(dst, `,"lang":"english","locale":"en","owner":`...)
	dst = api.AppendJSONString(dst, u.owner)
	dst = append(dst, `,"plan":`...)
	dst = api.AppendJSONString(dst, u.plan)
	dst = append(dst, `,"suspended":`...)
	dst = strconv.AppendInt(dst, int64(u.suspended), 10)
	dst = append(dst, `,"theme":"jupiter","user":`...)
	dst = api.AppendJSONString(dst, u.user)
	return append(dst, '}')
}

// MarshalJSON is AppendJSON for encoding/json (envelopes built as maps).
func (u *userInformation) MarshalJSON() ([]byte, error) { return u.AppendJSON(nil), nil }
