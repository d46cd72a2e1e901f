package approval

import (
	"fmt"
	"sort"
	"time"

	"github.com/google/uuid"
)

// Book is a list of approvals and what can be done to it. Stores load a
// Book, change it with these methods under their own lock, and save it, so
// every store applies the same rules.
type Book struct {
	Approvals []Approval
}

// Keep is how long a decided, used or expired approval stays in a store
// after it stopped mattering; the audit trail keeps the decision for good.
const Keep = 7 * 24 * time.Hour

// MaxKept bounds a store's approvals: past it the oldest that no longer
// matter are dropped first (pending ones are bounded by MaxPendingPerGrant).
const MaxKept = 10000

// Find implements Store.Find on the book.
func (b *Book) Find(req Request, now time.Time) (Approval, bool) {
	var same *Approval
	for i := len(b.Approvals) - 1; i >= 0; i-- { // newest last
		a := &b.Approvals[i]
		if a.Lets(req, now) {
			return *a, true
		}
		if same == nil && a.GrantID == req.GrantID && a.Match == req.Match && a.Actor == req.Actor && a.StatusAt(now) != StatusExpired {
			same = a
		}
	}
	if same != nil {
		return *same, true
	}
	return Approval{}, false
}

// Get returns the approval with id.
func (b *Book) Get(id string) (Approval, error) {
	if i := b.index(id); i >= 0 {
		return b.Approvals[i], nil
	}
	return Approval{}, fmt.Errorf("approval %s: %w", id, ErrNotFound)
}

func (b *Book) index(id string) int {
	for i := range b.Approvals {
		if b.Approvals[i].ID == id {
			return i
		}
	}
	return -1
}

// Create adds a pending approval for req.
func (b *Book) Create(req Request, now time.Time, ttl time.Duration) (Approval, error) {
	pending := 0
	for _, a := range b.Approvals {
		if a.GrantID == req.GrantID && a.StatusAt(now) == StatusPending {
			pending++
		}
	}
	if pending >= MaxPendingPerGrant {
		return Approval{}, ErrTooManyPending
	}
	id, err := uuid.NewRandom()
	if err != nil {
		return Approval{}, err
	}
	a := Approval{ID: id.String(), Request: req, Status: StatusPending, CreatedAt: now.UTC(), ExpiresAt: now.Add(ttl).UTC()}
	b.Approvals = append(b.Approvals, a)
	b.Prune(now)
	return a, nil
}

// Use consumes a one-request approval.
func (b *Book) Use(id, requestID string, now time.Time) error {
	i := b.index(id)
	if i < 0 {
		return fmt.Errorf("approval %s: %w", id, ErrNotFound)
	}
	a := &b.Approvals[i]
	if a.CoversUntil != nil && a.StatusAt(now) == StatusApproved {
		return nil
	}
	if a.Status == StatusUsed {
		return ErrUsed
	}
	if a.StatusAt(now) != StatusApproved {
		return fmt.Errorf("approval %s is %s: %w", id, a.StatusAt(now), ErrDecided)
	}
	t := now.UTC()
	a.Status, a.UsedAt, a.UsedBy = StatusUsed, &t, requestID
	return nil
}

// Decide applies a decision (the package's Decide rules).
func (b *Book) Decide(id string, d Decision) (Approval, error) {
	i := b.index(id)
	if i < 0 {
		return Approval{}, fmt.Errorf("approval %s: %w", id, ErrNotFound)
	}
	a, err := Decide(b.Approvals[i], d)
	if err != nil {
		return Approval{}, err
	}
	b.Approvals[i] = a
	return a, nil
}

// Select returns the approvals f selects, newest first, with their status
// as of now.
func (b *Book) Select(f Filter, now time.Time) []Approval {
	var out []Approval
	for i := len(b.Approvals) - 1; i >= 0; i-- {
		a := b.Approvals[i]
		a.Status = a.StatusAt(now)
		if (f.GrantID == "" || a.GrantID == f.GrantID) && (f.Status == "" || a.Status == f.Status) {
			out = append(out, a)
		}
	}
	return out
}

// Prune drops approvals that stopped mattering more than Keep ago, then
// the oldest such ones while there are more than MaxKept. It reports
// whether it dropped any.
func (b *Book) Prune(now time.Time) bool {
	over := func(a Approval) time.Time {
		end := a.ExpiresAt
		if a.CoversUntil != nil && a.CoversUntil.After(end) {
			end = *a.CoversUntil
		}
		return end
	}
	kept := b.Approvals[:0:0]
	for _, a := range b.Approvals {
		if now.Sub(over(a)) < Keep {
			kept = append(kept, a)
		}
	}
	if len(kept) > MaxKept {
		sort.SliceStable(kept, func(i, j int) bool { return kept[i].CreatedAt.Before(kept[j].CreatedAt) })
		drop := len(kept) - MaxKept
		out := kept[:0:0]
		for _, a := range kept {
			if drop > 0 && a.StatusAt(now) != StatusPending {
				drop--
				continue
			}
			out = append(out, a)
		}
		kept = out
	}
	changed := len(kept) != len(b.Approvals)
	b.Approvals = kept
	return changed
}
