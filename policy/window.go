package policy

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // zones must load in a distroless image with no zoneinfo
)

// A window is written "DAYS HH:MM-HH:MM ZONE":
//
//	Mon-Fri 09:00-17:00 Europe/Berlin
//	Sat,Sun 10:00-14:00 UTC
//	Mon,Wed-Fri 08:30-24:00 America/New_York
//	Fri-Mon 22:00-06:00 Asia/Tokyo
//
// DAYS is a comma list of days (Mon..Sun, any case, or "*" for every day)
// and ranges, which may wrap the week ("Fri-Mon"). Times are local wall
// clock in ZONE, an IANA name (required: "UTC" if that is what you mean).
// The start is inclusive and the end exclusive; "24:00" ends at midnight.
//
// An end earlier than the start crosses midnight: the window opens on each
// listed day and closes the next day ("Fri 22:00-02:00" covers Friday
// 22:00 to Saturday 02:00). A start equal to the end is refused as
// ambiguous.
//
// Matching is on the wall clock, so a window keeps its local hours across
// daylight-saving changes. On a spring-forward day the skipped hour simply
// never happens; on a fall-back day a repeated hour inside a window is
// allowed both times.

// window is a parsed, immutable time window.
type window struct {
	days       [7]bool // indexed by time.Weekday: the days a window opens
	start, end int     // seconds after local midnight; end may be 86400
	loc        *time.Location
	text       string // canonical spelling
}

var dayNames = [7]string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}

// parseWindow parses one window in the form above.
func parseWindow(s string) (window, error) {
	f := strings.Fields(s)
	if len(f) != 3 {
		return window{}, fmt.Errorf("window %q: want \"DAYS HH:MM-HH:MM ZONE\", e.g. \"Mon-Fri 09:00-17:00 Europe/Berlin\"", s)
	}
	w := window{}
	days, err := parseDays(f[0])
	if err != nil {
		return window{}, fmt.Errorf("window %q: %v", s, err)
	}
	w.days = days
	a, b, ok := strings.Cut(f[1], "-")
	if !ok {
		return window{}, fmt.Errorf("window %q: hours %q: want HH:MM-HH:MM", s, f[1])
	}
	if w.start, err = parseClock(a, false); err != nil {
		return window{}, fmt.Errorf("window %q: %v", s, err)
	}
	if w.end, err = parseClock(b, true); err != nil {
		return window{}, fmt.Errorf("window %q: %v", s, err)
	}
	if w.start == w.end {
		return window{}, fmt.Errorf("window %q: start and end are the same time; write 00:00-24:00 for a whole day", s)
	}
	if strings.EqualFold(f[2], "local") {
		return window{}, fmt.Errorf("window %q: name an IANA zone such as Europe/Berlin or UTC, not Local", s)
	}
	if w.loc, err = time.LoadLocation(f[2]); err != nil {
		return window{}, fmt.Errorf("window %q: unknown time zone %q (want an IANA name such as Europe/Berlin)", s, f[2])
	}
	w.text = fmt.Sprintf("%s %s-%s %s", daysString(w.days), clockString(w.start), clockString(w.end), w.loc.String())
	return w, nil
}

// parseDays parses "Mon-Fri", "Sat,Sun", "*" and the like.
func parseDays(s string) ([7]bool, error) {
	var days [7]bool
	if s == "*" {
		for i := range days {
			days[i] = true
		}
		return days, nil
	}
	for _, part := range strings.Split(s, ",") {
		a, b, isRange := strings.Cut(part, "-")
		from, err := parseDay(a)
		if err != nil {
			return days, err
		}
		to := from
		if isRange {
			if to, err = parseDay(b); err != nil {
				return days, err
			}
		}
		for d := from; ; d = (d + 1) % 7 {
			days[d] = true
			if d == to {
				break
			}
		}
	}
	return days, nil
}

func parseDay(s string) (int, error) {
	for i, n := range dayNames {
		if strings.EqualFold(s, n) {
			return i, nil
		}
	}
	return 0, fmt.Errorf("unknown day %q (want Mon, Tue, Wed, Thu, Fri, Sat, Sun or *)", s)
}

// parseClock parses "HH:MM" into seconds after midnight. "24:00" is
// accepted only as an end.
func parseClock(s string, isEnd bool) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(h) != 2 || len(m) != 2 {
		return 0, fmt.Errorf("time %q: want HH:MM", s)
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || h[0] == '+' || h[0] == '-' || m[0] == '+' || m[0] == '-' {
		return 0, fmt.Errorf("time %q: want HH:MM", s)
	}
	if hh == 24 && mm == 0 && isEnd {
		return 86400, nil
	}
	if hh > 23 || mm > 59 {
		return 0, fmt.Errorf("time %q is not a time of day (00:00 to 23:59, or 24:00 as an end)", s)
	}
	return hh*3600 + mm*60, nil
}

func clockString(sec int) string {
	return fmt.Sprintf("%02d:%02d", sec/3600, sec%3600/60)
}

// daysString renders days compactly: "*", "Mon-Fri", "Mon,Wed-Fri".
func daysString(days [7]bool) string {
	all := true
	for _, d := range days {
		all = all && d
	}
	if all {
		return "*"
	}
	var parts []string
	// Walk Mon..Sun so "Mon-Fri" reads as people write it.
	order := []int{1, 2, 3, 4, 5, 6, 0}
	for i := 0; i < 7; i++ {
		if !days[order[i]] {
			continue
		}
		j := i
		for j+1 < 7 && days[order[j+1]] {
			j++
		}
		if j == i {
			parts = append(parts, dayNames[order[i]])
		} else {
			parts = append(parts, dayNames[order[i]]+"-"+dayNames[order[j]])
		}
		i = j
	}
	return strings.Join(parts, ",")
}

func (w window) String() string { return w.text }

// crosses reports whether the window ends on the day after it opens.
func (w window) crosses() bool { return w.end < w.start }

// contains reports whether the instant t falls in the window.
func (w window) contains(t time.Time) bool {
	lt := t.In(w.loc)
	h, m, s := lt.Clock()
	tod := h*3600 + m*60 + s // sub-second parts do not change the answer: bounds are whole minutes
	day := int(lt.Weekday())
	if !w.crosses() {
		return w.days[day] && tod >= w.start && tod < w.end
	}
	prev := (day + 6) % 7
	return (w.days[day] && tod >= w.start) || (w.days[prev] && tod < w.end)
}

// inWindows reports whether t falls in any window. No windows means any
// time; with windows, a zero time (no clock) is denied.
func (p *Policy) inWindows(t time.Time) bool {
	if len(p.windows) == 0 {
		return true
	}
	if t.IsZero() {
		return false
	}
	for _, w := range p.windows {
		if w.contains(t) {
			return true
		}
	}
	return false
}

// minutesOfWeek marks the minutes of a wall-clock week (Sunday 00:00 is
// minute 0) the window covers. Windows in the same zone can be compared
// this way whatever daylight saving does, because both map wall-clock
// minutes to instants through the same zone rules.
func (w window) minutesOfWeek(mark func(minute int)) {
	const week = 7 * 1440
	length := w.end - w.start
	if w.crosses() {
		length += 86400
	}
	for d := 0; d < 7; d++ {
		if !w.days[d] {
			continue
		}
		first := d*1440 + w.start/60
		for m := 0; m < length/60; m++ {
			mark((first + m) % week)
		}
	}
}
