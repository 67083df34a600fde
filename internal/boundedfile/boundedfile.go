// Package boundedfile reads a whole file no larger than a limit: a
// configuration or import file is read into memory, so its size is bounded
// before it is parsed.
package boundedfile

import (
	"fmt"
	"io"
	"os"
)

// TooLargeError is a file over its limit.
type TooLargeError struct {
	Path  string
	Limit int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%s: larger than %d bytes", e.Path, e.Limit)
}

// Read reads path whole. An open failure is the *fs.PathError as is; a
// file over limit bytes is a *TooLargeError (at most limit+1 bytes are
// read).
func Read(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, &TooLargeError{Path: path, Limit: limit}
	}
	return data, nil
}
