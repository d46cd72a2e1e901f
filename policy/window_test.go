package policy

import (
	"strings"
	"testing"
	"time"
)

func mustLoc(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// windowPolicy compiles a policy with the given windows and nothing else
// but a destination.
func windowPolicy(t *testing.T, windows ...string) *Policy {
	t.Helper()
	p, err := Compile(Spec{Destinations: []string{"api.example.com"}, Windows: windows})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func at(t *testing.T, p *Policy, now time.Time) Decision {
	t.Helper()
	return p.Decide(Input{Scheme: "https", Host: "api.example.com", Port: 443, Method: "GET", Path: "/", Now: now})
}

func TestWindowBoundaries(t *testing.T) {
	berlin := mustLoc(t, "Europe/Berlin")
	ny := mustLoc(t, "America/New_York")
	// 2026-06-03 is a Wednesday; 2026-06-06 a Saturday.
	wed := func(h, m, s int) time.Time { return time.Date(2026, 6, 3, h, m, s, 0, berlin) }
	tests := []struct {
		name    string
		windows []string
		now     time.Time
		allowed bool
	}{
		{"start inclusive", []string{"Mon-Fri 09:00-17:00 Europe/Berlin"}, wed(9, 0, 0), true},
		{"one second before start", []string{"Mon-Fri 09:00-17:00 Europe/Berlin"}, wed(8, 59, 59), false},
		{"just before start, sub-second", []string{"Mon-Fri 09:00-17:00 Europe/Berlin"}, wed(9, 0, 0).Add(-time.Nanosecond), false},
		{"one second after start", []string{"Mon-Fri 09:00-17:00 Europe/Berlin"}, wed(9, 0, 1), true},
		{"one second before end", []string{"Mon-Fri 09:00-17:00 Europe/Berlin"}, wed(16, 59, 59), true},
		{"end exclusive", []string{"Mon-Fri 09:00-17:00 Europe/Berlin"}, wed(17, 0, 0), false},
		{"one second after end", []string{"Mon-Fri 09:00-17:00 Europe/Berlin"}, wed(17, 0, 1), false},
		{"weekend", []string{"Mon-Fri 09:00-17:00 Europe/Berlin"}, time.Date(2026, 6, 6, 12, 0, 0, 0, berlin), false},
		{"same instant in UTC", []string{"Mon-Fri 09:00-17:00 Europe/Berlin"}, time.Date(2026, 6, 3, 7, 0, 0, 0, time.UTC), true},
		{"utc instant before berlin start", []string{"Mon-Fri 09:00-17:00 Europe/Berlin"}, time.Date(2026, 6, 3, 6, 59, 59, 0, time.UTC), false},
		{"zone decides the day", []string{"Wed 00:00-01:00 Europe/Berlin"}, time.Date(2026, 6, 2, 22, 30, 0, 0, time.UTC), true},
		{"other zone same instant", []string{"Wed 00:00-01:00 America/New_York"}, time.Date(2026, 6, 2, 22, 30, 0, 0, time.UTC), false},
		{"new york window", []string{"Wed 09:00-10:00 America/New_York"}, time.Date(2026, 6, 3, 9, 30, 0, 0, ny), true},
		{"second window allows", []string{"Mon 09:00-10:00 UTC", "Wed 12:00-13:00 Europe/Berlin"}, wed(12, 30, 0), true},
		{"no window allows", []string{"Mon 09:00-10:00 UTC", "Wed 12:00-13:00 Europe/Berlin"}, wed(13, 30, 0), false},
		{"end 24:00 last second", []string{"Wed 20:00-24:00 Europe/Berlin"}, wed(23, 59, 59), true},
		{"end 24:00 midnight excluded", []string{"Wed 20:00-24:00 Europe/Berlin"}, time.Date(2026, 6, 4, 0, 0, 0, 0, berlin), false},
		{"every day", []string{"* 00:00-24:00 UTC"}, wed(3, 0, 0), true},
		{"zero clock denied", []string{"* 00:00-24:00 UTC"}, time.Time{}, false},
		// Crossing midnight: Friday 22:00 to Saturday 02:00.
		{"cross: opens on listed day", []string{"Fri 22:00-02:00 UTC"}, time.Date(2026, 6, 5, 22, 0, 0, 0, time.UTC), true},
		{"cross: before open", []string{"Fri 22:00-02:00 UTC"}, time.Date(2026, 6, 5, 21, 59, 59, 0, time.UTC), false},
		{"cross: after midnight next day", []string{"Fri 22:00-02:00 UTC"}, time.Date(2026, 6, 6, 1, 59, 59, 0, time.UTC), true},
		{"cross: closes next day", []string{"Fri 22:00-02:00 UTC"}, time.Date(2026, 6, 6, 2, 0, 0, 0, time.UTC), false},
		{"cross: early friday is thursday's window", []string{"Fri 22:00-02:00 UTC"}, time.Date(2026, 6, 5, 1, 0, 0, 0, time.UTC), false},
		{"cross: saturday night not listed", []string{"Fri 22:00-02:00 UTC"}, time.Date(2026, 6, 6, 23, 0, 0, 0, time.UTC), false},
		{"wrapping day range", []string{"Sat-Mon 10:00-11:00 UTC"}, time.Date(2026, 6, 7, 10, 30, 0, 0, time.UTC), true},
		{"wrapping day range excludes", []string{"Sat-Mon 10:00-11:00 UTC"}, time.Date(2026, 6, 5, 10, 30, 0, 0, time.UTC), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := at(t, windowPolicy(t, tt.windows...), tt.now)
			if d.Allowed != tt.allowed {
				t.Fatalf("at %s: allowed = %v, want %v (%s)", tt.now.UTC().Format(time.RFC3339Nano), d.Allowed, tt.allowed, d.Reason)
			}
			if !d.Allowed && d.Rule != RuleTimeWindow {
				t.Fatalf("rule = %q, want %q", d.Rule, RuleTimeWindow)
			}
		})
	}
}

// TestWindowDST: windows follow the local wall clock through Berlin's
// changes in 2026 (clocks go 02:00 -> 03:00 on 29 March and 03:00 -> 02:00
// on 25 October), both Sundays.
func TestWindowDST(t *testing.T) {
	utc := func(mo time.Month, d, h, m, s int) time.Time { return time.Date(2026, mo, d, h, m, s, 0, time.UTC) }
	tests := []struct {
		name    string
		window  string
		now     time.Time
		allowed bool
	}{
		// 29 March: 09:00 local is 07:00 UTC (CEST, +2), one day earlier 08:00 UTC (CET, +1).
		{"spring: 09:00 CEST opens", "Sun 09:00-17:00 Europe/Berlin", utc(3, 29, 7, 0, 0), true},
		{"spring: a second earlier", "Sun 09:00-17:00 Europe/Berlin", utc(3, 29, 6, 59, 59), false},
		{"spring: 17:00 CEST closes", "Sun 09:00-17:00 Europe/Berlin", utc(3, 29, 15, 0, 0), false},
		{"spring: a second before close", "Sun 09:00-17:00 Europe/Berlin", utc(3, 29, 14, 59, 59), true},
		{"day before: 09:00 CET opens", "Sat 09:00-17:00 Europe/Berlin", utc(3, 28, 8, 0, 0), true},
		{"day before: 08:00 UTC a second earlier", "Sat 09:00-17:00 Europe/Berlin", utc(3, 28, 7, 59, 59), false},
		// The skipped hour: 01:59:59 CET is followed by 03:00:00 CEST (01:00 UTC).
		{"spring: last second before the jump", "Sun 01:00-02:00 Europe/Berlin", utc(3, 29, 0, 59, 59), true},
		{"spring: after the jump is 03:00", "Sun 01:00-02:00 Europe/Berlin", utc(3, 29, 1, 0, 0), false},
		{"spring: window in the skipped hour then open at 03:00", "Sun 02:30-03:30 Europe/Berlin", utc(3, 29, 1, 0, 0), true},
		{"spring: window in the skipped hour, 03:30 closes", "Sun 02:30-03:30 Europe/Berlin", utc(3, 29, 1, 30, 0), false},
		// 25 October: 02:00-02:59 happens twice (00:00 UTC as CEST, 01:00 UTC as CET).
		{"autumn: first 02:30", "Sun 02:00-03:00 Europe/Berlin", utc(10, 25, 0, 30, 0), true},
		{"autumn: second 02:30", "Sun 02:00-03:00 Europe/Berlin", utc(10, 25, 1, 30, 0), true},
		{"autumn: 03:00 CET closes", "Sun 02:00-03:00 Europe/Berlin", utc(10, 25, 2, 0, 0), false},
		{"autumn: 01:59:59 CEST before open", "Sun 02:00-03:00 Europe/Berlin", utc(10, 24, 23, 59, 59), false},
		{"autumn: 09:00 CET opens", "Sun 09:00-17:00 Europe/Berlin", utc(10, 25, 8, 0, 0), true},
		{"autumn: 08:00 UTC is 09:00 only in CET", "Sun 09:00-17:00 Europe/Berlin", utc(10, 25, 7, 59, 59), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := at(t, windowPolicy(t, tt.window), tt.now)
			if d.Allowed != tt.allowed {
				t.Fatalf("%s at %s: allowed = %v, want %v", tt.window, tt.now.Format(time.RFC3339), d.Allowed, tt.allowed)
			}
		})
	}
}

func TestParseWindow(t *testing.T) {
	good := map[string]string{
		"Mon-Fri 09:00-17:00 Europe/Berlin":  "Mon-Fri 09:00-17:00 Europe/Berlin",
		"  mon-fri   09:00-17:00  UTC ":      "Mon-Fri 09:00-17:00 UTC",
		"Sat,Sun 10:00-14:00 UTC":            "Sat-Sun 10:00-14:00 UTC",
		"Mon,Wed-Fri 08:30-24:00 Asia/Tokyo": "Mon,Wed-Fri 08:30-24:00 Asia/Tokyo",
		"Fri-Mon 22:00-06:00 UTC":            "Mon,Fri-Sun 22:00-06:00 UTC",
		"* 00:00-24:00 UTC":                  "* 00:00-24:00 UTC",
		"Mon-Sun 00:00-24:00 UTC":            "* 00:00-24:00 UTC",
	}
	for in, want := range good {
		t.Run("ok "+in, func(t *testing.T) {
			w, err := parseWindow(in)
			if err != nil {
				t.Fatal(err)
			}
			if w.String() != want {
				t.Fatalf("String() = %q, want %q", w.String(), want)
			}
			again, err := parseWindow(w.String())
			if err != nil || again.String() != want {
				t.Fatalf("canonical form does not round-trip: %v %v", again, err)
			}
		})
	}
	bad := map[string]string{
		"missing zone":         "Mon-Fri 09:00-17:00",
		"unknown zone":         "Mon-Fri 09:00-17:00 Mars/Olympus",
		"local zone":           "Mon-Fri 09:00-17:00 Local",
		"unknown day":          "Mon-Fry 09:00-17:00 UTC",
		"empty day":            "Mon, 09:00-17:00 UTC",
		"no dash in hours":     "Mon 09:00 UTC",
		"hour 25":              "Mon 09:00-25:00 UTC",
		"minute 60":            "Mon 09:60-10:00 UTC",
		"single digit hour":    "Mon 9:00-17:00 UTC",
		"start 24:00":          "Mon 24:00-01:00 UTC",
		"24:30":                "Mon 09:00-24:30 UTC",
		"start equals end":     "Mon 09:00-09:00 UTC",
		"signed hour":          "Mon +9:00-17:00 UTC",
		"extra field":          "Mon 09:00-17:00 UTC extra",
		"empty":                "",
		"seconds not accepted": "Mon 09:00:00-17:00 UTC",
	}
	for name, in := range bad {
		t.Run("bad "+name, func(t *testing.T) {
			if _, err := parseWindow(in); err == nil {
				t.Fatalf("parseWindow(%q) succeeded", in)
			}
		})
	}
}

func TestCompileErrorNamesTheWindow(t *testing.T) {
	_, err := Compile(Spec{Destinations: []string{"a.example.com"}, Windows: []string{"Mon 09:00-10:00 UTC", "Mon-Fry 09:00-17:00 UTC"}})
	if err == nil || !strings.Contains(err.Error(), "windows[1]") || !strings.Contains(err.Error(), `"Fry"`) {
		t.Fatalf("error does not name the entry: %v", err)
	}
}
