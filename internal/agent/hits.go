package agent

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"sync"
	"time"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/policy"
	"palisade.dev/palisade/internal/store"
)

// hitCounters are this host's per-rule hit counters, summed over its
// interfaces, published under model.HitsKey(host, scope, group) (the
// service sums the hosts). A nil *hitCounters counts nothing (counters
// off). They are totals since the rule was first hit: on its first use the
// agent takes up what its host published before.
type hitCounters struct {
	st    store.Store
	host  string
	log   *slog.Logger
	every time.Duration // at most one write per group and period

	mu        sync.Mutex
	loaded    bool
	groups    map[model.GroupID]*groupHits
	published time.Time
}

type groupHits struct {
	scope model.Scope
	hits  model.GroupHits
	dirty bool
}

func newHitCounters(st store.Store, host string, every time.Duration, log *slog.Logger) *hitCounters {
	return &hitCounters{st: st, host: host, every: every, log: log, groups: map[model.GroupID]*groupHits{}}
}

// firstPacket: the rules allowed a new flow at t.
func (h *hitCounters) firstPacket(v *obsView, rules []policy.RuleRef, t time.Time) {
	h.add(v, rules, func(r model.RuleHits) model.RuleHits { return r.Add(model.RuleHits{LastHit: t.UTC()}) })
}

// traffic: the rules' flow carried c more.
func (h *hitCounters) traffic(v *obsView, rules []policy.RuleRef, c counts) {
	if c.packets == 0 {
		return
	}
	h.add(v, rules, func(r model.RuleHits) model.RuleHits {
		return r.Add(model.RuleHits{Packets: c.packets, Bytes: c.bytes})
	})
}

func (h *hitCounters) add(v *obsView, rules []policy.RuleRef, f func(model.RuleHits) model.RuleHits) {
	if h == nil || len(rules) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	seen := map[model.RuleID]bool{} // a rule listed twice (a group on both ends) counts once
	for _, r := range rules {
		if seen[r.Rule] {
			continue
		}
		seen[r.Rule] = true
		g := h.groups[r.Group]
		if g == nil {
			g = &groupHits{scope: v.scope, hits: model.GroupHits{}}
			h.groups[r.Group] = g
		}
		g.hits[r.Rule] = f(g.hits[r.Rule])
		g.dirty = true
	}
}

// publish writes the groups whose counters changed, at most once per
// period; the first time it first takes up what the host published before.
func (h *hitCounters) publish(now time.Time) {
	if h == nil || h.host == "" {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if now.Sub(h.published) < h.every {
		return
	}
	h.published = now
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if !h.loaded {
		if err := h.load(ctx); err != nil {
			h.log.Error("read published hit counters", "err", err)
			return
		}
		h.loaded = true
	}
	var keys []model.GroupID
	for id, g := range h.groups {
		if g.dirty && g.scope != (model.Scope{}) {
			keys = append(keys, id)
		}
	}
	slices.Sort(keys)
	for len(keys) > 0 {
		batch := keys[:min(len(keys), reportBatch)]
		keys = keys[len(batch):]
		_, err := h.st.Txn(ctx, func(tx store.Tx) error {
			for _, id := range batch {
				g := h.groups[id]
				b, err := json.Marshal(g.hits)
				if err != nil {
					return err
				}
				if err := tx.Put(model.HitsKey(h.host, g.scope, id), b); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			h.log.Error("publish hit counters; will retry", "err", err)
			return
		}
		for _, id := range batch {
			h.groups[id].dirty = false
		}
	}
}

// load adds what the host published before (a previous run) to the
// counters.
func (h *hitCounters) load(ctx context.Context) error {
	page, err := h.st.List(ctx, model.HitsPrefix(h.host), store.ListOptions{})
	if err != nil {
		return err
	}
	for _, kv := range page.KVs {
		_, scope, id, ok := model.ParseHitsKey(kv.Key)
		var old model.GroupHits
		if !ok || json.Unmarshal(kv.Value, &old) != nil {
			continue
		}
		g := h.groups[id]
		if g == nil {
			g = &groupHits{scope: scope, hits: model.GroupHits{}}
			h.groups[id] = g
		}
		for r, v := range old {
			g.hits[r] = g.hits[r].Add(v)
		}
		g.dirty = true
	}
	return nil
}
