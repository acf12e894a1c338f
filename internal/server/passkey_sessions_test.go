package server

import (
	"errors"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/store"
	"github.com/cpauth/cpauth/internal/store/sqlstore"
)

// TestPasskeyRemovedMeanwhile: a session made or verified by a passkey
// that was removed (or marked as cloned) between its check and the
// session's write ends at once; one whose passkey is still there stays.
func TestPasskeyRemovedMeanwhile(t *testing.T) {
	at := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, st store.Store, id []byte)
		ended  bool
	}{
		{"still there", func(*testing.T, store.Store, []byte) {}, false},
		{"removed", func(t *testing.T, st store.Store, id []byte) {
			if err := st.DeletePasskey(t.Context(), id); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"marked as cloned", func(t *testing.T, st store.Store, id []byte) {
			if _, err := st.UpdatePasskey(t.Context(), id, func(p store.Passkey) (store.Passkey, error) {
				p.CloneWarning = true
				return p, nil
			}); err != nil {
				t.Fatal(err)
			}
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			st, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "cpauth.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			if err := st.CreateAccount(ctx, store.Account{Username: "bob", Domain: "bob.test", Owner: "root"}); err != nil {
				t.Fatal(err)
			}
			pk := store.Passkey{ID: []byte{1, 2, 3}, Username: "bob", Account: "bob", Name: "Phone", PublicKey: []byte{4},
				AttestationType: "none", Created: at}
			if err := st.CreatePasskey(ctx, pk); err != nil {
				t.Fatal(err)
			}
			ss := store.Session{IDHash: "id-1", Kind: store.SessionNormal, Username: "bob", Account: "bob", Service: "cpaneld",
				SecurityToken: "/cpsess0000000001", Method: "webauthn", TFAVerified: true, Created: at, LastSeen: at,
				Expires: at.Add(time.Hour), Passkey: pk.ID}
			if err := st.CreateSession(ctx, ss); err != nil {
				t.Fatal(err)
			}
			tc.change(t, st, pk.ID)
			s := &Server{Store: st, Log: slog.New(slog.DiscardHandler)}
			if got := s.passkeyRemovedMeanwhile(ctx, pk, ss); got != tc.ended {
				t.Errorf("passkeyRemovedMeanwhile = %v; want %v", got, tc.ended)
			}
			_, err = st.GetSession(ctx, ss.IDHash)
			if gone := errors.Is(err, store.ErrNotFound); gone != tc.ended {
				t.Errorf("session gone = %v (%v); want %v", gone, err, tc.ended)
			}
		})
	}
}
