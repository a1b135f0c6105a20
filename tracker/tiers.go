package tracker

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
)

// Policy chooses which trackers of a torrent's tiers a Session asks.
type Policy int

const (
	// PolicyAll announces to every tracker of every tier at once: the
	// fastest way to find every peer, and the default.
	PolicyAll Policy = iota
	// PolicyBEP12 follows BEP 12: the tiers in order, each tier shuffled
	// once, its trackers tried in that order, a tracker that answers moved
	// to the front of its tier; an announce falls through to the next
	// tracker, then the next tier, on failure, and ends at the first
	// answer.
	PolicyBEP12
)

// String returns "all" or "bep12".
func (p Policy) String() string {
	if p == PolicyBEP12 {
		return "bep12"
	}
	return "all"
}

// UnmarshalText accepts "all" and "bep12", as String writes them.
func (p *Policy) UnmarshalText(b []byte) error {
	switch string(b) {
	case "all":
		*p = PolicyAll
	case "bep12":
		*p = PolicyBEP12
	default:
		return fmt.Errorf("tracker policy %q: want all or bep12", b)
	}
	return nil
}

// DedupeTiers returns tiers with blank URLs and repeats left out: a URL
// whose NormalizeURL form came before, in its own tier or an earlier one,
// is dropped, so each tracker is asked once, in its first tier, under the
// spelling first given. Tiers keep their positions (a tier left empty stays,
// empty), so a tier index means the same in tiers and in the result.
func DedupeTiers(tiers [][]string) [][]string {
	seen := map[string]bool{}
	out := make([][]string, len(tiers))
	for i, tier := range tiers {
		for _, u := range tier {
			u = strings.TrimSpace(u)
			n := NormalizeURL(u)
			if u == "" || seen[n] {
				continue
			}
			seen[n] = true
			out[i] = append(out[i], u)
		}
	}
	return out
}

// tierOrder is the BEP 12 order of a session's tiers: each shuffled once,
// the trackers that answer moved to the front of their tier.
type tierOrder struct {
	mu    sync.Mutex
	tiers [][]string
}

func newTierOrder(tiers [][]string) *tierOrder {
	o := &tierOrder{tiers: make([][]string, len(tiers))}
	for i, t := range tiers {
		t = slices.Clone(t)
		rand.Shuffle(len(t), func(a, b int) { t[a], t[b] = t[b], t[a] })
		o.tiers[i] = t
	}
	return o
}

// tier returns a copy of tier i's current order.
func (o *tierOrder) tier(i int) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.tiers[i])
}

// promote moves u to the front of tier i, keeping the others' order.
func (o *tierOrder) promote(i int, u string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	t := o.tiers[i]
	if j := slices.Index(t, u); j > 0 {
		copy(t[1:j+1], t[:j])
		t[0] = u
	}
}
