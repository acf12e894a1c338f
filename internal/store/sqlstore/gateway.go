package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cpauth/cpauth/internal/store"
)

// The backend tokens of gateway mode live in gateway_tokens
// (migrations/<dialect>/0007_gateway_tokens.sql). No change is announced
// (and the shared change counter is not bumped): no cache holds them, and
// a node that uses one another node has revoked hears it from the backend,
// which refuses it.

var _ store.GatewayStore = (*Store)(nil)

const backendTokenCols = `username, token_name, token_created, acls, backend_name, sealed, created`

func backendTokenWhat(username, tokenName string) string {
	return fmt.Sprintf("backend token of token %q of %s", tokenName, accountWhat(username))
}

// CreateBackendToken implements store.GatewayStore.
func (s *Store) CreateBackendToken(ctx context.Context, t store.BackendToken) error {
	what := backendTokenWhat(t.Username, t.TokenName)
	if len(t.Sealed) == 0 || t.BackendName == "" {
		return fmt.Errorf("sqlstore: %s: no sealed token or no backend name: %w", what, store.ErrInvalid)
	}
	acls := t.ACLs
	if acls == nil {
		acls = []string{}
	}
	raw, err := json.Marshal(acls)
	if err != nil {
		return fmt.Errorf("sqlstore: %s: %w", what, err)
	}
	_, err = s.exec(ctx, s.q(`INSERT INTO gateway_tokens (`+backendTokenCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`),
		t.Username, t.TokenName, toDBTime(t.TokenCreated), string(raw), t.BackendName, t.Sealed, toDBTime(t.Created))
	return s.dbErr(err, what)
}

func scanBackendToken(row scanner) (store.BackendToken, error) {
	var t store.BackendToken
	var tokenCreated, created int64
	var acls string
	if err := row.Scan(&t.Username, &t.TokenName, &tokenCreated, &acls, &t.BackendName, &t.Sealed, &created); err != nil {
		return t, err
	}
	t.TokenCreated, t.Created = fromDBTime(tokenCreated), fromDBTime(created)
	t.ACLs = []string{}
	if err := json.Unmarshal([]byte(acls), &t.ACLs); err != nil {
		return t, fmt.Errorf("acls: %w", err)
	}
	return t, nil
}

// GetBackendToken implements store.GatewayStore.
func (s *Store) GetBackendToken(ctx context.Context, username, tokenName string) (store.BackendToken, error) {
	what := backendTokenWhat(username, tokenName)
	t, err := scanBackendToken(s.db.QueryRowContext(ctx, s.q(`SELECT `+backendTokenCols+` FROM gateway_tokens WHERE username = ? AND token_name = ?`), username, tokenName))
	if errors.Is(err, sql.ErrNoRows) {
		return store.BackendToken{}, notFound(what)
	}
	if err != nil {
		return store.BackendToken{}, s.dbErr(err, what)
	}
	return t, nil
}

// ListBackendTokens implements store.GatewayStore.
func (s *Store) ListBackendTokens(ctx context.Context) ([]store.BackendToken, error) {
	const what = "backend tokens"
	rows, err := s.db.QueryContext(ctx, `SELECT `+backendTokenCols+` FROM gateway_tokens`)
	if err != nil {
		return nil, s.dbErr(err, what)
	}
	defer rows.Close()
	var out []store.BackendToken
	for rows.Next() {
		t, err := scanBackendToken(rows)
		if err != nil {
			return nil, s.dbErr(err, what)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, s.dbErr(err, what)
	}
	// Sorted here, byte-wise: the dialects' collations differ.
	slices.SortFunc(out, func(a, b store.BackendToken) int {
		return cmp.Or(strings.Compare(a.Username, b.Username), strings.Compare(a.TokenName, b.TokenName))
	})
	return out, nil
}

// DeleteBackendToken implements store.GatewayStore.
func (s *Store) DeleteBackendToken(ctx context.Context, username, tokenName, backendName string) error {
	what := backendTokenWhat(username, tokenName)
	res, err := s.exec(ctx, s.q(`DELETE FROM gateway_tokens WHERE username = ? AND token_name = ? AND backend_name = ?`), username, tokenName, backendName)
	if err != nil {
		return s.dbErr(err, what)
	}
	return affected(res, what)
}
