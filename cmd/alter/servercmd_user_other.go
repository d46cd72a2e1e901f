//go:build !linux

package main

import (
	"errors"
	"os"
)

// echoOff is only implemented on Linux; elsewhere a terminal is refused
// rather than showing the password: pipe it in instead.
func echoOff(*os.File) (func(), error) {
	return nil, errors.New("not supported on this system: pipe the password in (printf %s \"$PW\" | alter server user add NAME)")
}
