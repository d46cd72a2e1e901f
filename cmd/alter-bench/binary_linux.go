package main

import "syscall"

// orphanSignal has the kernel send the binary SIGTERM when the bench dies,
// even by SIGKILL, so no proxy is left listening after it.
func orphanSignal() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
