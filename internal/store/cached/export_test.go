package cached

import "time"

// MaxAbsentTokens and AbsentTokens let the tests see the bound of the
// remembered absent tokens.
const MaxAbsentTokens = maxAbsentTokens

func (s *Store) AbsentTokens() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tab.Load().tokens.nAbsent
}

// MaxAbsentSessions, AbsentSessions, SessionTTL and SetNow let the tests see
// the bound of the remembered absent sessions and move the clock of the
// sessions' time to live.
const (
	MaxAbsentSessions = maxAbsentSessions
	SessionTTL        = sessionTTL
)

func (s *Store) AbsentSessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tab.Load().sessions.nAbsent
}

// SetNow replaces the clock; call it before the store is used.
func (s *Store) SetNow(now func() time.Time) { s.now = now }
