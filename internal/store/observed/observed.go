// Package observed is a store.Store that tells an observer how long each
// call took and how it ended: the store's metrics, without the store
// knowing of them.
package observed

//go:generate go run ./internal/gen

import (
	"errors"
	"time"

	"github.com/cpauth/cpauth/internal/store"
)

// Op is one method of store.Store (the constants are generated, one per
// method, in the interface's order).
type Op uint8

func (o Op) String() string {
	if o < NumOps {
		return opNames[o]
	}
	return "unknown"
}

// Ops lists every operation, for an observer that resolves its counters
// beforehand.
func Ops() []Op {
	ops := make([]Op, NumOps)
	for i := range ops {
		ops[i] = Op(i)
	}
	return ops
}

// Outcome is how a call ended, as the metrics count it: the store's
// expected answers (not found, exists, conflict) apart from failures.
type Outcome uint8

const (
	OK Outcome = iota
	NotFound
	Exists
	Conflict
	Failed
	NumOutcomes
)

var outcomeNames = [NumOutcomes]string{"ok", "not_found", "exists", "conflict", "error"}

func (o Outcome) String() string {
	if o < NumOutcomes {
		return outcomeNames[o]
	}
	return "error"
}

// OutcomeOf classifies a call's error.
func OutcomeOf(err error) Outcome {
	switch {
	case err == nil:
		return OK
	case errors.Is(err, store.ErrNotFound):
		return NotFound
	case errors.Is(err, store.ErrExists):
		return Exists
	case errors.Is(err, store.ErrConflict):
		return Conflict
	}
	return Failed
}

// Observer is told of every call: it runs on the caller's goroutine, so
// it must be quick (an add to counters resolved beforehand).
type Observer interface {
	StoreCall(op Op, took time.Duration, outcome Outcome)
}

// Store passes every call to the store it wraps and tells the observer.
type Store struct {
	next store.Store
	obs  Observer
}

// New wraps next; a nil observer leaves next as it is.
func New(next store.Store, obs Observer) store.Store {
	if obs == nil {
		return next
	}
	return &Store{next: next, obs: obs}
}

// Unwrap returns the wrapped store.
func (s *Store) Unwrap() store.Store { return s.next }

func (s *Store) done(op Op, start time.Time, err *error) {
	s.obs.StoreCall(op, time.Since(start), OutcomeOf(*err))
}
