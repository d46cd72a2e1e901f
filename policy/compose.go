package policy

// All returns a policy that allows a request only if every one of ps
// allows it. A clone's effective policy is All(clone, parent, grandparent,
// ...): a parent narrowed after its clones were made narrows them too, and a
// clone whose own rules were somehow wider than its parent's still cannot
// reach past them. A denial names the rule of the first member that denies,
// so list the most specific policy first. All of nothing, or with a nil
// member, denies everything.
func All(ps ...*Policy) *Policy {
	if len(ps) == 1 && ps[0] != nil {
		return ps[0]
	}
	members := make([]*Policy, 0, len(ps))
	for _, p := range ps {
		if p == nil {
			return nil // fail closed: Decide on a nil policy denies
		}
		if p.all != nil {
			members = append(members, p.all...)
		} else {
			members = append(members, p)
		}
	}
	if len(members) == 0 {
		return nil
	}
	return &Policy{all: members}
}

// decideAll runs every member. Members may upgrade a plain-http request to
// https differently (one allows http://h:80 as written, another only
// https://h:443), so the target one member picks is fed to the others until
// all agree on one without changing it. Only http->https changes a target,
// so two rounds always settle it.
func (p *Policy) decideAll(in Input) Decision {
	for round := 0; round < 2; round++ {
		changed := false
		for _, q := range p.all {
			d := q.Decide(in)
			if !d.Allowed {
				return d
			}
			if d.Target.Scheme != in.Scheme || d.Target.Port != in.Port || d.Target.Host != in.Host {
				in.Scheme, in.Host, in.Port = d.Target.Scheme, d.Target.Host, d.Target.Port
				changed = true
			}
		}
		if !changed {
			return Decision{Allowed: true, Target: Destination{Scheme: in.Scheme, Host: in.Host, Port: in.Port}}
		}
	}
	return deny(RuleDestination, "destination not allowed for this grant")
}
