package main

import (
	"os"
	"os/exec"
	"os/signal"
)

// runChild starts c and returns its outcome. Windows delivers Ctrl-C to
// the whole console, so the command hears it without alter's help; alter
// only keeps running until the command exits.
func runChild(c *exec.Cmd) error {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt)
	defer signal.Stop(sigs)
	if err := c.Start(); err != nil {
		return startError(c.Path, err)
	}
	return exitFromWait(c.Wait())
}

func exitSignal(*exec.ExitError) os.Signal { return nil }

func signalNumber(os.Signal) int { return 0 }

func raise(os.Signal) {}
