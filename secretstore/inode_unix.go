//go:build unix

package secretstore

import (
	"io/fs"
	"syscall"
)

// inode is the file's inode number: a rename over the store shows as a new
// one even when size and modification time happen to match.
func inode(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino)
	}
	return 0
}
