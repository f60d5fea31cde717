package service

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/store"
)

// FlowSource serves the flow records the local agent observed (the
// agent's FlowRing): those of an account with a Seq above after.
type FlowSource interface {
	Recent(acct model.AccountID, after uint64) []model.FlowRecord
}

// WithFlows makes PalisadeFlows answer from src (serve with the lab data
// plane passes its agent's ring).
func WithFlows(src FlowSource) Option { return func(s *Service) { s.flows = src } }

// FlowsInput is PalisadeFlows' request.
type FlowsInput struct {
	ENI      string        // only this interface's records
	Instance string        // only the records of this instance's interfaces
	Since    time.Duration // only records that end at most this long ago; 0: all kept
	After    uint64        // only records with a higher Seq (follow)
}

// Flows returns the latest record of each flow the local agent observed
// for the caller (a flow's record at its first packet is replaced by its
// update at the end of the window), ordered by Seq.
func (s *Service) Flows(ctx context.Context, c Caller, in FlowsInput) ([]model.FlowRecord, error) {
	if in.ENI != "" && in.Instance != "" {
		return nil, model.Errorf(model.CodeInvalidParameterCombination, "Specify either NetworkInterfaceId or InstanceId, not both")
	}
	if in.Since < 0 {
		return nil, model.Errorf(model.CodeInvalidParameterValue, "Since must not be negative")
	}
	enis, err := s.flowENIs(ctx, c, in)
	if err != nil {
		return nil, err
	}
	if s.flows == nil {
		return nil, model.Errorf(model.CodeUnsupportedOperation,
			"This server observes no flows: flow records come from the lab data plane (palisade serve --dataplane lab)")
	}
	cutoff := time.Time{}
	if in.Since > 0 {
		cutoff = s.now().Add(-in.Since)
	}
	latest := map[string]int{}
	var out []model.FlowRecord
	for _, r := range s.flows.Recent(c.Account, in.After) {
		if r.Region != c.Region || (enis != nil && !slices.Contains(enis, r.ENI)) || r.End.Before(cutoff) {
			continue
		}
		key := string(r.ENI) + " " + r.Flow
		if i, ok := latest[key]; ok {
			out[i].Seq = 0 // replaced
		}
		latest[key] = len(out)
		out = append(out, r)
	}
	return slices.DeleteFunc(out, func(r model.FlowRecord) bool { return r.Seq == 0 }), nil
}

// flowENIs resolves the interface or instance of a flows request (nil:
// every interface).
func (s *Service) flowENIs(ctx context.Context, c Caller, in FlowsInput) ([]model.ENIID, error) {
	if in.ENI == "" && in.Instance == "" {
		return nil, nil
	}
	var out []model.ENIID
	err := s.read(ctx, c, "Flows", func(t *tx) error {
		if in.ENI != "" {
			id, err := model.ParseENIID(in.ENI)
			if err != nil {
				return err
			}
			var e model.ENI
			if ok, err := t.get(kindENI, string(id), &e); err != nil || !ok {
				return orNotFound(err, model.KindENI, in.ENI)
			}
			out = []model.ENIID{id}
			return nil
		}
		id, err := model.ParseInstanceID(in.Instance)
		if err != nil {
			return err
		}
		var i model.Instance
		if ok, err := t.get(kindInstance, string(id), &i); err != nil || !ok {
			return orNotFound(err, model.KindInstance, in.Instance)
		}
		out = append([]model.ENIID{}, i.ENIs...)
		return nil
	})
	return out, err
}

// RuleHit is one rule of a group with its hit counters, summed over every
// host and interface.
type RuleHit struct {
	Rule model.Rule
	Hits model.RuleHits
}

// RuleHits returns the hit counters of a group's rules, in the group's
// order (rules never hit have zero counters); counted says whether any
// host counts (publishes counters in the caller's scope).
func (s *Service) RuleHits(ctx context.Context, c Caller, groupID string) (out []RuleHit, counted bool, err error) {
	id, err := model.ParseGroupID(groupID)
	if err != nil {
		return nil, false, err
	}
	err = s.read(ctx, c, "RuleHits", func(t *tx) error {
		var g model.SecurityGroup
		if ok, err := t.get(kindGroup, string(id), &g); err != nil || !ok {
			return orNotFound(err, model.KindGroup, groupID)
		}
		sum, published, err := t.hitsOf(c.scope(), []model.GroupID{id})
		if err != nil {
			return err
		}
		counted = published
		for _, r := range g.Rules {
			out = append(out, RuleHit{Rule: r, Hits: sum[r.ID]})
		}
		return nil
	})
	return out, counted, err
}

// hitsOf sums every host's hit counters of the groups' rules; counted says
// whether any host published counters in the scope (they are on).
func (t *tx) hitsOf(scope model.Scope, groups []model.GroupID) (sum model.GroupHits, counted bool, err error) {
	page, err := t.List(model.HostRoot, store.ListOptions{})
	if err != nil {
		return nil, false, err
	}
	sum = model.GroupHits{}
	want := make(map[model.GroupID]bool, len(groups))
	for _, g := range groups {
		want[g] = true
	}
	for _, kv := range page.KVs {
		if !strings.Contains(kv.Key, "/hits/") {
			continue
		}
		_, sc, g, ok := model.ParseHitsKey(kv.Key)
		if !ok || sc != scope {
			continue
		}
		counted = true
		if !want[g] {
			continue
		}
		var h model.GroupHits
		if err := json.Unmarshal(kv.Value, &h); err != nil {
			continue // a host's bad value costs its counters, not the answer
		}
		for r, v := range h {
			sum[r] = sum[r].Add(v)
		}
	}
	return sum, counted, nil
}
