package winrm

import (
	"os"
	"syscall"
)

// fileIdentity is what tells a replaced file apart from the one cached
// beyond its size and mtime: its inode (a bundle renamed into place) and
// its ctime (one rewritten in place with its mtime set back: every write,
// chmod or utime moves the ctime, and nothing can set it back).
type fileIdentity struct {
	ino   uint64
	ctime syscall.Timespec
}

func identityOf(fi os.FileInfo) fileIdentity {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileIdentity{}
	}
	return fileIdentity{ino: st.Ino, ctime: st.Ctim}
}
