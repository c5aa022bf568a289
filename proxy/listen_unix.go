//go:build unix

// Socket owners on unix systems.
package proxy

import (
	"os"
	"syscall"
)

// fileOwner returns the uid and gid of the file fi describes.
func fileOwner(fi os.FileInfo) (uid, gid int, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, false
	}
	return int(st.Uid), int(st.Gid), true
}
