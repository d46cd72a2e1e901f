//go:build !windows

package main

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// procUsage is one process's resource use so far.
type procUsage struct {
	CPU       time.Duration `json:"cpu_ns"`      // user + system
	PeakRSSKB int64         `json:"peak_rss_kb"` // VmHWM, resettable (see resetPeakRSS)
	RSSKB     int64         `json:"rss_kb"`      // VmRSS now
	MaxRSSKB  int64         `json:"max_rss_kb"`  // getrusage's lifetime peak, never reset
}

// selfUsage reads this process's CPU time from getrusage (microsecond
// resolution, unlike the clock ticks of /proc/<pid>/stat) and its memory
// from /proc/self/status.
func selfUsage() procUsage {
	var ru syscall.Rusage
	var u procUsage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		u.CPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		u.MaxRSSKB = int64(ru.Maxrss) // KiB on Linux
		u.PeakRSSKB = u.MaxRSSKB      // unless VmHWM below says otherwise
	}
	_ = readVm("/proc/self/status", &u)
	return u
}

// readVm fills u's PeakRSSKB (VmHWM) and RSSKB (VmRSS) from a
// /proc/<pid>/status file.
func readVm(path string, u *procUsage) error {
	st, err := os.Open(path)
	if err != nil {
		return err
	}
	defer st.Close()
	sc := bufio.NewScanner(st)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			u.PeakRSSKB = parseKB(v)
		} else if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			u.RSSKB = parseKB(v)
		}
	}
	return sc.Err()
}

func parseKB(v string) int64 {
	n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
	return n
}

// resetPeakRSS sets VmHWM back to the current RSS (Linux clear_refs "5"),
// so each cell's peak is its own. Where that is not possible the peak is
// the process's lifetime peak, which the report still labels as a peak.
func resetPeakRSS() {
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}
