//go:build !linux && !windows

package main

import "syscall"

// orphanSignal: only Linux can signal a child when its parent dies; here a
// binary outlives a bench that is killed outright.
func orphanSignal() *syscall.SysProcAttr { return nil }
