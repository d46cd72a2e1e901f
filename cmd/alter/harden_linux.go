package main

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// hardenProcess keeps key material out of places it could leak from:
// no core dumps (a crash would write the master key and opened secrets to
// disk), not dumpable (other processes of the same user cannot ptrace it
// or read its memory through /proc), and, when asked, all memory locked so
// nothing is written to swap.
func hardenProcess(lockMemory bool) error {
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{Cur: 0, Max: 0}); err != nil {
		return fmt.Errorf("disable core dumps: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("mark the process not dumpable: %w", err)
	}
	if lockMemory {
		if err := unix.Mlockall(unix.MCL_CURRENT | unix.MCL_FUTURE); err != nil {
			return fmt.Errorf("lock_memory: mlockall: %w (needs CAP_IPC_LOCK or a larger RLIMIT_MEMLOCK)", err)
		}
	}
	return nil
}
