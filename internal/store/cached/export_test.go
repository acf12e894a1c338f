package cached

// MaxAbsentTokens and AbsentTokens let the tests see the bound of the
// remembered absent tokens.
const MaxAbsentTokens = maxAbsentTokens

func (s *Store) AbsentTokens() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.tokens.absent)
}
