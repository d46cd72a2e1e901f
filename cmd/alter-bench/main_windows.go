// alter-bench reads the proxy's CPU time and memory from /proc and
// getrusage; it does not run on Windows.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "alter-bench measures through /proc and getrusage and runs on Linux (and, without --binary, other Unix systems) only")
	os.Exit(2)
}
