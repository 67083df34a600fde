package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/domain"
	"github.com/ops-worker/ops-worker/internal/store"
)

func testCredentials(t *testing.T, b Backend) {
	s, _ := b.Open(t)
	clk := NewClock(time.Date(2026, 3, 1, 10, 0, 0, 123456789, time.UTC))
	s.Now = clk.Now
	rec := func(kind, ref, key string, sealed string) domain.CredentialRecord {
		return domain.CredentialRecord{Kind: kind, Ref: ref, Type: kind, KeyID: key, Sealed: []byte(sealed), UpdatedBy: "op@" + ref}
	}
	created, err := s.PutCredential(ctx(), rec("winrm", "ws-02", "k1", "\x00sealed-2\xff"), false)
	if err != nil || !created {
		t.Fatalf("insert: %v %v", created, err)
	}
	if _, err := s.PutCredential(ctx(), rec("winrm", "ws-02", "k2", "other"), false); !errors.Is(err, store.ErrCredentialExists) {
		t.Fatalf("insert over a row: %v", err)
	}
	for _, r := range []domain.CredentialRecord{rec("winrm", "ws-01", "k1", "s1"), rec("power", "ws-01", "k2", "p1"), rec("winrm", "ws-03", "k2", "s3")} {
		if created, err := s.PutCredential(ctx(), r, true); err != nil || !created {
			t.Fatalf("upsert new %s/%s: %v %v", r.Kind, r.Ref, created, err)
		}
	}
	got, err := s.GetCredential(ctx(), "winrm", "ws-02")
	if err != nil || got == nil {
		t.Fatal(got, err)
	}
	want := time.Date(2026, 3, 1, 10, 0, 0, 123456000, time.UTC)
	if got.Type != "winrm" || got.KeyID != "k1" || !bytes.Equal(got.Sealed, []byte("\x00sealed-2\xff")) ||
		!got.CreatedAt.Equal(want) || !got.UpdatedAt.Equal(want) || got.UpdatedBy != "op@ws-02" {
		t.Fatalf("read back %+v", got)
	}
	if none, err := s.GetCredential(ctx(), "power", "ws-02"); none != nil || err != nil {
		t.Fatalf("absent: %v %v", none, err)
	}

	// Overwrite keeps created_at and answers created=false.
	clk.Advance(time.Minute)
	r := rec("winrm", "ws-02", "k2", "new")
	r.Type, r.UpdatedBy = "winrm", "second"
	if created, err := s.PutCredential(ctx(), r, true); err != nil || created {
		t.Fatalf("overwrite: %v %v", created, err)
	}
	got, _ = s.GetCredential(ctx(), "winrm", "ws-02")
	if string(got.Sealed) != "new" || got.KeyID != "k2" || !got.CreatedAt.Equal(want) || !got.UpdatedAt.Equal(want.Add(time.Minute)) || got.UpdatedBy != "second" {
		t.Fatalf("after overwrite %+v", got)
	}

	list, err := s.ListCredentials(ctx(), "winrm")
	if err != nil {
		t.Fatal(err)
	}
	if refs := credRefs(list); refs != "ws-01:k1 ws-02:k2 ws-03:k2 " {
		t.Fatalf("list %q", refs)
	}
	for _, l := range list {
		if l.Sealed != nil {
			t.Fatalf("list holds sealed bytes for %s", l.Ref)
		}
	}

	old, err := s.CredentialsNotUnder(ctx(), "k2", 10)
	if err != nil || credRefs(old) != "ws-01:k1 " || string(old[0].Sealed) != "s1" {
		t.Fatalf("not under k2: %q %v", credRefs(old), err)
	}
	if notK1, _ := s.CredentialsNotUnder(ctx(), "k1", 2); credRefs(notK1) != "ws-01:k2 ws-02:k2 " || notK1[0].Kind != "power" {
		t.Fatalf("not under k1, limit 2: %q", credRefs(notK1))
	}
	if _, err := s.CredentialsNotUnder(ctx(), "k1", 0); err == nil {
		t.Fatal("limit 0 accepted")
	}

	// Compare and swap: stale key or stale bytes lose.
	if ok, err := s.ResealCredential(ctx(), "winrm", "ws-01", "k2", []byte("s1"), "k3", []byte("r1")); ok || err != nil {
		t.Fatalf("stale key id swapped: %v %v", ok, err)
	}
	if ok, err := s.ResealCredential(ctx(), "winrm", "ws-01", "k1", []byte("s0"), "k3", []byte("r1")); ok || err != nil {
		t.Fatalf("stale bytes swapped: %v %v", ok, err)
	}
	if ok, err := s.ResealCredential(ctx(), "winrm", "ws-01", "k1", []byte("s1"), "k3", []byte("r1")); !ok || err != nil {
		t.Fatalf("swap: %v %v", ok, err)
	}
	got, _ = s.GetCredential(ctx(), "winrm", "ws-01")
	if got.KeyID != "k3" || string(got.Sealed) != "r1" || got.UpdatedBy != "op@ws-01" {
		t.Fatalf("after reseal %+v", got)
	}
	if ok, _ := s.ResealCredential(ctx(), "winrm", "absent", "k1", nil, "k3", nil); ok {
		t.Fatal("absent row swapped")
	}
}

func credRefs(rs []domain.CredentialRecord) string {
	var s string
	for _, r := range rs {
		s += fmt.Sprintf("%s:%s ", r.Ref, r.KeyID)
	}
	return s
}
