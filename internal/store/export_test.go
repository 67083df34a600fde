package store

import (
	"context"
	"io/fs"
	"sort"
	"time"

	schema "github.com/ops-worker/ops-worker/mysql"
)

// CandidatesQueryForTest returns the candidate query and its arguments at a
// given time, for EXPLAIN in benchmarks.
func CandidatesQueryForTest(phase, cooldownAction string, now time.Time, w Window) (string, []any) {
	return candidatesQuery(phase, cooldownAction, ms(now), w)
}

// ApplyAllFiles runs every schema file again, ignoring the record of what
// was applied: the check that each file is safe to apply twice.
func ApplyAllFiles(ctx context.Context, s *Store) error {
	names, err := fs.Glob(schema.Files, "*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		if _, err := s.applyFile(ctx, schema.Files, name); err != nil {
			return err
		}
	}
	return nil
}
