package observed_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/store"
	"github.com/cpauth/cpauth/internal/store/observed"
	"github.com/cpauth/cpauth/internal/store/sqlstore"
	"github.com/cpauth/cpauth/internal/store/storetest"
)

// recorder is an Observer that keeps what it was told.
type recorder struct {
	mu    sync.Mutex
	calls map[observed.Op][]observed.Outcome
}

func (r *recorder) StoreCall(op observed.Op, took time.Duration, o observed.Outcome) {
	if took < 0 {
		panic("negative duration")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.calls == nil {
		r.calls = map[observed.Op][]observed.Outcome{}
	}
	r.calls[op] = append(r.calls[op], o)
}

func (r *recorder) of(op observed.Op) []observed.Outcome {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]observed.Outcome(nil), r.calls[op]...)
}

func openSQLite(t *testing.T) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "cpauth.db"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The decorator passes every call through unchanged: the conformance
// suite of every backend passes through it.
func TestConformance(t *testing.T) {
	storetest.RunTests(t, func(t *testing.T) store.Store {
		s := observed.New(openSQLite(t), &recorder{})
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// TestEveryMethod: the operations are store.Store's methods, in order; a
// method added to the interface needs `go generate` (and the decorator
// would not compile without it).
func TestEveryMethod(t *testing.T) {
	st := reflect.TypeFor[store.Store]()
	if int(observed.NumOps) != st.NumMethod() {
		t.Fatalf("%d operations, store.Store has %d methods: run go generate ./internal/store/observed", observed.NumOps, st.NumMethod())
	}
	for i, op := range observed.Ops() {
		if op.String() != st.Method(i).Name {
			t.Errorf("operation %d is %q, method %d is %q", op, op, i, st.Method(i).Name)
		}
	}
	if got := observed.Op(200).String(); got != "unknown" {
		t.Errorf("out-of-range Op = %q", got)
	}
}

func TestObserved(t *testing.T) {
	ctx := context.Background()
	rec := &recorder{}
	s := observed.New(openSQLite(t), rec)
	defer s.Close()
	now := time.Now()
	steps := []struct {
		name string
		op   observed.Op
		do   func() error
		want observed.Outcome
	}{
		{"create", observed.OpCreateAccount, func() error {
			return s.CreateAccount(ctx, store.Account{Username: "bob", PasswordHash: "x", Created: now, PasswordChanged: now})
		}, observed.OK},
		{"create again", observed.OpCreateAccount, func() error {
			return s.CreateAccount(ctx, store.Account{Username: "bob", PasswordHash: "x", Created: now, PasswordChanged: now})
		}, observed.Exists},
		{"get", observed.OpGetAccount, func() error { _, err := s.GetAccount(ctx, "bob"); return err }, observed.OK},
		{"get missing", observed.OpGetAccount, func() error { _, err := s.GetAccount(ctx, "amy"); return err }, observed.NotFound},
		{"updater error", observed.OpUpdateAccount, func() error {
			_, err := s.UpdateAccount(ctx, "bob", func(a store.Account) (store.Account, error) { return a, errors.New("no") })
			return err
		}, observed.Failed},
	}
	for _, st := range steps {
		before := len(rec.of(st.op))
		err := st.do()
		got := rec.of(st.op)
		if len(got) != before+1 {
			t.Fatalf("%s: %d observations of %s, want %d", st.name, len(got), st.op, before+1)
		}
		if got[len(got)-1] != st.want || observed.OutcomeOf(err) != st.want {
			t.Errorf("%s: outcome %s (error %v), want %s", st.name, got[len(got)-1], err, st.want)
		}
	}
	if n := len(rec.of(observed.OpListAccounts)); n != 0 {
		t.Errorf("%d observations of a method never called", n)
	}
}

func TestOutcomeOf(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want observed.Outcome
	}{
		{"nil", nil, observed.OK},
		{"not found", store.ErrNotFound, observed.NotFound},
		{"wrapped exists", fmt.Errorf("creating: %w", store.ErrExists), observed.Exists},
		{"conflict", store.ErrConflict, observed.Conflict},
		{"other", errors.New("disk full"), observed.Failed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := observed.OutcomeOf(tc.err); got != tc.want {
				t.Errorf("OutcomeOf(%v) = %s, want %s", tc.err, got, tc.want)
			}
		})
	}
	if observed.New(nil, nil) != nil {
		t.Error("New without an observer did not return the store itself")
	}
}
