package policy

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseLimits(t *testing.T) {
	cases := []struct {
		name, in string
		quota    bool
		want     string // canonical text, or "" for an error
		errHas   string
	}{
		{name: "per minute", in: "20/m", want: "20/m"},
		{name: "spaces", in: " 5 / s ", want: "5/s"},
		{name: "per hour", in: "100/h", want: "100/h"},
		{name: "day is a quota", in: "20/d", errHas: "is a quota"},
		{name: "no slash", in: "20", errHas: "N/unit"},
		{name: "zero", in: "0/m", errHas: "from 1"},
		{name: "negative", in: "-1/m", errHas: "from 1"},
		{name: "too many for a rate", in: "100001/s", errHas: "at most 100000"},
		{name: "quota per day", in: "1000/d", quota: true, want: "1000/d"},
		{name: "quota per month", in: "5/mo", quota: true, want: "5/mo"},
		{name: "quota per minute", in: "5/m", quota: true, errHas: "calendar"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			parse := ParseRate
			if c.quota {
				parse = ParseQuota
			}
			l, err := parse(c.in)
			if c.want == "" {
				if err == nil || !strings.Contains(err.Error(), c.errHas) {
					t.Fatalf("got %v, %v; want an error containing %q", l, err, c.errHas)
				}
				return
			}
			if err != nil || l.Text != c.want {
				t.Fatalf("got %+v, %v; want %s", l, err, c.want)
			}
		})
	}
}

func TestCompileGoverningRules(t *testing.T) {
	base := []string{"https://api.example.com"}
	cases := []struct {
		name   string
		spec   Spec
		errHas string
	}{
		{name: "approval for POST", spec: Spec{Destinations: base, RequireApproval: []string{"post"}}},
		{name: "approval any method with prefix", spec: Spec{Destinations: base, RequireApproval: []string{"*"}, ApprovalPathPrefixes: []string{"/v1/refunds"}}},
		{name: "prefix without approval", spec: Spec{Destinations: base, ApprovalPathPrefixes: []string{"/x"}}, errHas: "approval_path_prefixes: given without require_approval"},
		{name: "bad approval method", spec: Spec{Destinations: base, RequireApproval: []string{"PO ST"}}, errHas: "require_approval[0]"},
		{name: "bad approval prefix", spec: Spec{Destinations: base, RequireApproval: []string{"POST"}, ApprovalPathPrefixes: []string{"x"}}, errHas: "approval_path_prefixes[0]"},
		{name: "rate", spec: Spec{Destinations: base, Rate: "20/m", PerActor: true}},
		{name: "bad rate", spec: Spec{Destinations: base, Rate: "20/d"}, errHas: "policy: rate:"},
		{name: "bad quota", spec: Spec{Destinations: base, Quota: "x/d"}, errHas: "policy: quota:"},
		{name: "per actor alone", spec: Spec{Destinations: base, PerActor: true}, errHas: "per_actor"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Compile(c.spec)
			if c.errHas == "" && err != nil {
				t.Fatalf("Compile: %v", err)
			}
			if c.errHas != "" && (err == nil || !strings.Contains(err.Error(), c.errHas)) {
				t.Fatalf("Compile: %v; want an error containing %q", err, c.errHas)
			}
		})
	}
}

func TestRequiresApproval(t *testing.T) {
	p := mustCompile(t, Spec{Destinations: []string{"https://api.example.com"}, RequireApproval: []string{"POST", "DELETE"}, ApprovalPathPrefixes: []string{"/v1/refunds"}})
	all := mustCompile(t, Spec{Destinations: []string{"https://api.example.com"}, RequireApproval: []string{"*"}})
	none := mustCompile(t, Spec{Destinations: []string{"https://api.example.com"}})
	cases := []struct {
		name         string
		p            *Policy
		method, path string
		want         bool
		prefix       string
	}{
		{"POST under prefix", p, "POST", "/v1/refunds/re_1", true, "/v1/refunds"},
		{"POST at prefix", p, "POST", "/v1/refunds", true, "/v1/refunds"},
		{"GET under prefix", p, "GET", "/v1/refunds", false, ""},
		{"POST elsewhere", p, "POST", "/v1/charges", false, ""},
		{"POST sibling name", p, "POST", "/v1/refundsX", false, ""},
		{"encoded path is decoded", p, "POST", "/v1/%72efunds", true, "/v1/refunds"},
		{"non-canonical path is held", p, "POST", "/v1/charges/../refunds", true, ""},
		{"any method", all, "GET", "/", true, ""},
		{"no rule", none, "POST", "/", false, ""},
		{"chain: ancestor's rule holds", All(none, p), "DELETE", "/v1/refunds", true, "/v1/refunds"},
		{"nil policy", nil, "POST", "/", false, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, pre := c.p.RequiresApproval(c.method, c.path)
			if got != c.want || pre != c.prefix {
				t.Fatalf("RequiresApproval(%s %s) = %v, %q; want %v, %q", c.method, c.path, got, pre, c.want, c.prefix)
			}
		})
	}
	if !All(none, p).HasApproval() || none.HasApproval() {
		t.Fatal("HasApproval does not see the chain's rules")
	}
}

func TestApprovalWithin(t *testing.T) {
	d := []string{"https://api.example.com"}
	parent := Spec{Destinations: d, RequireApproval: []string{"POST"}, ApprovalPathPrefixes: []string{"/v1/refunds"}}
	cases := []struct {
		name   string
		child  Spec
		errHas string
	}{
		{name: "same", child: parent},
		{name: "more methods", child: Spec{Destinations: d, RequireApproval: []string{"POST", "GET"}, ApprovalPathPrefixes: []string{"/v1/refunds"}}},
		{name: "every method", child: Spec{Destinations: d, RequireApproval: []string{"*"}, ApprovalPathPrefixes: []string{"/v1/refunds"}}},
		{name: "wider prefix", child: Spec{Destinations: d, RequireApproval: []string{"POST"}, ApprovalPathPrefixes: []string{"/v1"}}},
		{name: "every path", child: Spec{Destinations: d, RequireApproval: []string{"POST"}}},
		{name: "dropped", child: Spec{Destinations: d}, errHas: "no approval rule"},
		{name: "other method", child: Spec{Destinations: d, RequireApproval: []string{"DELETE"}}, errHas: "no approval for POST"},
		{name: "narrower prefix", child: Spec{Destinations: d, RequireApproval: []string{"POST"}, ApprovalPathPrefixes: []string{"/v1/refunds/big"}}, errHas: "no approval under /v1/refunds"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Within(c.child, parent)
			if c.errHas == "" && err != nil {
				t.Fatalf("Within: %v", err)
			}
			if c.errHas != "" && (!errors.Is(err, ErrWidens) || !strings.Contains(err.Error(), c.errHas)) {
				t.Fatalf("Within: %v; want ErrWidens containing %q", err, c.errHas)
			}
		})
	}
	if got := Inherit(Spec{Destinations: d}, parent); Within(got, parent) != nil {
		t.Fatalf("a clone asking nothing about approval must inherit it: %+v", got)
	}
	if got := Inherit(Spec{Destinations: d}, Spec{Destinations: d, Rate: "5/m"}); got.Rate != "" {
		t.Fatalf("limits must not be inherited (the parent's count anyway): %+v", got)
	}
}

func TestLimitsFollowTheChain(t *testing.T) {
	d := []string{"https://api.example.com"}
	clone := mustCompile(t, Spec{Destinations: d, Rate: "5/s"})
	parent := mustCompile(t, Spec{Destinations: d, Quota: "100/d", PerActor: true, Windows: []string{"Mon-Fri 09:00-17:00 Europe/Berlin"}})
	ls := All(clone, parent).Limits()
	if len(ls) != 2 || ls[0].Rate == nil || ls[0].Rate.N != 5 || ls[1].Quota == nil || !ls[1].PerActor {
		t.Fatalf("Limits = %+v", ls)
	}
	if ls[1].Zone.String() != "Europe/Berlin" || ls[0].Zone != time.UTC {
		t.Fatalf("zones %v, %v", ls[0].Zone, ls[1].Zone)
	}
	now := time.Date(2026, 3, 31, 23, 30, 0, 0, time.UTC) // 01:30 on 1 April in Berlin
	if got := ls[1].Quota.PeriodStart(now, ls[1].Zone); !got.Equal(time.Date(2026, 4, 1, 0, 0, 0, 0, ls[1].Zone)) {
		t.Fatalf("day start %v", got)
	}
	mo := Limit{Calendar: "mo"}
	if got := mo.PeriodEnd(now, time.UTC); !got.Equal(time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("month end %v", got)
	}
}

func TestCanonicalKeepsGoverningRules(t *testing.T) {
	c, err := Spec{Destinations: []string{"https://a.example"}, RequireApproval: []string{"post", "POST"}, ApprovalPathPrefixes: []string{"/x/"}, Rate: " 20 /m", Quota: "9/mo", PerActor: true}.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.RequireApproval, ",") != "POST" || strings.Join(c.ApprovalPathPrefixes, ",") != "/x" || c.Rate != "20/m" || c.Quota != "9/mo" || !c.PerActor {
		t.Fatalf("Canonical = %+v", c)
	}
	c, _ = Spec{Destinations: []string{"https://a.example"}, RequireApproval: []string{"GET", "*"}}.Canonical()
	if strings.Join(c.RequireApproval, ",") != "*" {
		t.Fatalf("Canonical = %+v", c)
	}
}
