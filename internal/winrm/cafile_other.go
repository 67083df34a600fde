//go:build !linux

package winrm

import "os"

// fileIdentity is empty where the stat carries no inode and ctime we read
// (the relay on Windows): there size and mtime alone tell a change.
type fileIdentity struct{}

func identityOf(os.FileInfo) fileIdentity { return fileIdentity{} }
