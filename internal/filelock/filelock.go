// Package filelock takes exclusive advisory locks on open files, the one
// way the store and the audit log keep two processes from writing at once:
// flock(2) on Unix, LockFileEx on Windows. The lock goes with the file:
// closing it releases the lock.
package filelock

import "os"

// TryLock takes an exclusive lock on f without waiting. It reports false,
// with no error, when another process holds one.
func TryLock(f *os.File) (bool, error) { return tryLock(f) }

// Lock takes an exclusive lock on f, waiting while another process holds
// one.
func Lock(f *os.File) error { return lock(f) }
