package functions

import (
	"context"

	"github.com/cpauth/cpauth/internal/api"
)

// displaycontactinfo is API 2's CustInfo::displaycontactinfo: the account's
// contact settings as cPanel lists them, one {type, name, descp, enabled,
// value} per setting. cpauth keeps one of them, the contact address that
// createacct's contactemail sets: it comes first, as in cPanel. The second
// address is always empty, because cpauth keeps none. The notification
// switches and messaging tokens cPanel lists after them are left out:
// cpauth sends no notifications, and a setting it does not keep is not
// reported as if it did.
func (e *Env) displaycontactinfo(ctx context.Context, c *api.Call) (*api.Result, error) {
	a, err := e.account(ctx, c.Principal.Account)
	if err != nil {
		return nil, err
	}
	entry := func(name, descp, value string) map[string]any {
		return map[string]any{"type": "string", "name": name, "descp": descp, "enabled": 1, "value": value}
	}
	return &api.Result{Data: []map[string]any{
		entry("email", "The address at which the system contacts the account's owner. Choose one that is not on this account.", a.ContactEmail),
		entry("second_email", "A second address at which the system contacts the account's owner.", ""),
	}}, nil
}
