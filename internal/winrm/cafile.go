package winrm

import (
	"fmt"
	"os"
	"sync"
	"time"
)

// caFiles keeps the CA bundles read from disk, by path, so a call does not
// open and read the file again (a poll is one call per station per
// interval): a stat tells whether the file changed since (size, mtime,
// and on Linux inode and ctime: a same-size bundle put in place with its
// mtime kept is still a change), and a changed (rotated) bundle is read
// again at once.
type caFiles struct {
	mu    sync.Mutex
	files map[string]caFile
}

type caFile struct {
	size    int64
	modTime time.Time
	id      fileIdentity
	pem     []byte
}

// maxCAFiles bounds the cache (a catalog names a few bundles); past it the
// cache starts over.
const maxCAFiles = 256

func (c *caFiles) read(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read CA file: %w", err)
	}
	c.mu.Lock()
	f, ok := c.files[path]
	c.mu.Unlock()
	id := identityOf(st)
	if ok && f.size == st.Size() && f.modTime.Equal(st.ModTime()) && f.id == id {
		return f.pem, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read CA file: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.files == nil || len(c.files) >= maxCAFiles {
		c.files = map[string]caFile{}
	}
	c.files[path] = caFile{size: st.Size(), modTime: st.ModTime(), id: id, pem: b}
	return b, nil
}
