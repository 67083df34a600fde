package store

import (
	"context"
	"strings"
	"testing"
)

func TestClampPage(t *testing.T) {
	tests := []struct{ limit, offset, wantLimit, wantOffset int }{
		{10, 20, 10, 20},
		{-1, -5, 0, 0},
		{0, 0, 0, 0},
		{MaxPageSize, MaxOffset, MaxPageSize, MaxOffset},
		{MaxPageSize + 1, MaxOffset + 1, MaxPageSize, MaxOffset},
		{1 << 62, 1 << 62, MaxPageSize, MaxOffset},
		{-1 << 62, -1 << 62, 0, 0},
	}
	for _, tt := range tests {
		l, o := clampPage(tt.limit, tt.offset)
		if l != tt.wantLimit || o != tt.wantOffset {
			t.Errorf("clampPage(%d, %d) = %d, %d; want %d, %d", tt.limit, tt.offset, l, o, tt.wantLimit, tt.wantOffset)
		}
	}
}

// The claims INSERT has 4 placeholders per reservation and 3 more: the
// documented row limit must follow from MySQL's 65,535, and MaxBatch must
// stay under it.
func TestClaimBounds(t *testing.T) {
	if MaxClaimRows != 16383 {
		t.Errorf("MaxClaimRows = %d, want 16383", MaxClaimRows)
	}
	if MaxBatch > MaxClaimRows {
		t.Errorf("MaxBatch %d is over MaxClaimRows %d", MaxBatch, MaxClaimRows)
	}
	// The guard runs before any statement: a Store without a database
	// shows it (the statement would panic on the nil DB).
	s := &Store{}
	ids := make([]string, MaxBatch+1)
	for i := range ids {
		ids[i] = "r"
	}
	_, _, _, err := s.claim(context.Background(), PhaseStart, ids, 0)
	if err == nil || !strings.Contains(err.Error(), "more than 1000") {
		t.Errorf("claim of %d ids: %v, want a refusal", len(ids), err)
	}
}
