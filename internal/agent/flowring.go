package agent

import (
	"slices"
	"sync"

	"palisade.dev/palisade/internal/model"
)

// FlowRing holds the latest flow records of each account, for `palisade
// flows` (service.FlowSource): bounded, the oldest go first. The agent
// adds a record at a flow's first packet and its update at the end of
// each aggregation window; both carry the flow's Flow and a growing Seq.
type FlowRing struct {
	mu     sync.Mutex
	seq    uint64
	max    int // records kept per account
	byAcct map[model.AccountID][]model.FlowRecord
}

// DefaultFlowRingSize is how many records NewFlowRing keeps per account
// when given 0.
const DefaultFlowRingSize = 10000

// NewFlowRing returns a ring keeping max records per account (0: the
// default).
func NewFlowRing(max int) *FlowRing {
	if max <= 0 {
		max = DefaultFlowRingSize
	}
	return &FlowRing{max: max, byAcct: map[model.AccountID][]model.FlowRecord{}}
}

// add stores a record, numbering it.
func (r *FlowRing) add(rec model.FlowRecord) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	rec.Seq = r.seq
	recs := append(r.byAcct[rec.Account], rec)
	if len(recs) > r.max {
		// Drop the oldest quarter at once: amortized O(1) per record.
		recs = slices.Clone(recs[len(recs)-r.max*3/4:])
	}
	r.byAcct[rec.Account] = recs
}

// Recent returns the account's records with a Seq above after, oldest
// first.
func (r *FlowRing) Recent(acct model.AccountID, after uint64) []model.FlowRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	recs := r.byAcct[acct]
	i, _ := slices.BinarySearchFunc(recs, after, func(rec model.FlowRecord, s uint64) int {
		switch {
		case rec.Seq <= s:
			return -1
		}
		return 1
	})
	return slices.Clone(recs[i:])
}
