//go:build !linux

package main

import "errors"

// hardenProcess is only implemented on Linux; elsewhere lock_memory is
// refused rather than silently ignored.
func hardenProcess(lockMemory bool) error {
	if lockMemory {
		return errors.New("lock_memory is only supported on Linux")
	}
	return nil
}
