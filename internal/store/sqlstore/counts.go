package sqlstore

import (
	"context"
	"time"
)

// Counts are the live credentials of the database, by service: what the
// metrics show (counts, never names).
type Counts struct {
	// Sessions are the logged-in browser sessions (not one-time ones)
	// neither expired nor idle past their timeout at the time asked, by
	// cpsrvd application ("cpaneld", "whostmgrd", "webmaild").
	Sessions map[string]int
	// Tokens are the API tokens not expired at the time asked, by token
	// service ("whostmgr", "cpanel").
	Tokens map[string]int
}

// CountLive counts the sessions and API tokens live at now: two grouped
// counts, each one statement. Meant for a scrape that caches its answer,
// not for the request path.
func (s *Store) CountLive(ctx context.Context, now time.Time) (Counts, error) {
	if !validTime(now) {
		return Counts{}, invalid("count live credentials", "the time is outside the years 1 to 9999")
	}
	v := toDBTime(now)
	c := Counts{Sessions: map[string]int{}, Tokens: map[string]int{}}
	queries := []struct {
		what, query string
		args        []any
		into        map[string]int
	}{
		{"count sessions", `SELECT service, COUNT(*) FROM sessions WHERE kind = 'normal' AND expires >= ? AND (idle_timeout = 0 OR last_seen + idle_timeout >= ?) GROUP BY service`,
			[]any{v, v}, c.Sessions},
		{"count API tokens", `SELECT service, COUNT(*) FROM api_tokens WHERE expires_at IS NULL OR expires_at >= ? GROUP BY service`,
			[]any{v}, c.Tokens},
	}
	for _, q := range queries {
		rows, err := s.db.QueryContext(ctx, s.q(q.query), q.args...)
		if err != nil {
			return Counts{}, s.dbErr(err, q.what)
		}
		for rows.Next() {
			var svc string
			var n int
			if err := rows.Scan(&svc, &n); err != nil {
				rows.Close()
				return Counts{}, s.dbErr(err, q.what)
			}
			q.into[svc] = n
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return Counts{}, s.dbErr(err, q.what)
		}
	}
	return c, nil
}
