// Package limits holds the bounds that config refuses to exceed at start-up
// and the store enforces on every call. They live apart from the store so
// that config (and the use cases) can name them without importing the
// database adapter; the store's constants of the same names are these.
package limits

const (
	// MaxBatch is the largest OPS_RESERVATION_MAX_BATCH (one scan's
	// batch) accepted. One scan claims its whole batch in one INSERT of 4
	// placeholders a row, and MySQL's limit of 65,535 placeholders puts the
	// hard ceiling at 16,383 (store.MaxClaimRows, which a store test keeps
	// above this); 1000 is well under it and more than one tick should ever
	// dispatch (each due reservation is a WinRM call).
	MaxBatch = 1000
	// MaxPageSize is the largest page of operations served, and so the
	// largest OPS_TIMELINE_MAX_OPS and OPS_TIMELINE_PHASE_LOOKBACK.
	MaxPageSize = 1000
)
