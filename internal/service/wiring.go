package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"palisade.dev/palisade/internal/hosts"
	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/store"
)

// WithWiring says that a data plane wires instances: RunInstances and
// StartInstances then store "pending", and FollowWiring makes an instance
// "running" once an agent reports it wired. Without it (no data plane)
// they store "running" at once.
func WithWiring() Option { return func(s *Service) { s.wiring = true } }

// startState is the state RunInstances and StartInstances store.
func (s *Service) startState() model.InstanceState {
	if s.wiring {
		return model.StatePending
	}
	return model.StateRunning
}

// FollowWiring runs until ctx ends: it reads the agents' reports
// (model.HostRoot), and promotes each pending instance whose report names
// its current record to running, so that an instance reported running has
// its network, as on AWS once it has booted. The agents only write their
// own reports; the state is the service's to change. A failure (a store
// hiccup) is logged and the reports are read again after a pause.
func (s *Service) FollowWiring(ctx context.Context) {
	for {
		err := s.followWiring(ctx)
		if ctx.Err() != nil {
			return
		}
		s.log.Error("following the agents' wiring reports; reading them again in a second", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

func (s *Service) followWiring(ctx context.Context) error {
	page, err := s.st.List(ctx, model.HostRoot, store.ListOptions{})
	if err != nil {
		return fmt.Errorf("list wiring reports: %w", err)
	}
	if err := s.promote(ctx, page.KVs); err != nil {
		return err
	}
	events, err := s.st.Watch(ctx, model.HostRoot, page.Revision)
	if err != nil {
		return fmt.Errorf("watch wiring reports: %w", err)
	}
	for resp := range events {
		if resp.Err != nil {
			return fmt.Errorf("watch wiring reports: %w", resp.Err)
		}
		var kvs []store.KeyValue
		for _, ev := range resp.Events {
			if ev.Type == store.EventPut {
				kvs = append(kvs, ev.KV)
			}
		}
		if err := s.promote(ctx, kvs); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// promoteBatch bounds the instances one promotion transaction writes.
const promoteBatch = store.MaxTxnWrites / 2

// promote makes running the pending instances whose reports are in kvs and
// name their current record.
func (s *Service) promote(ctx context.Context, kvs []store.KeyValue) error {
	for len(kvs) > 0 {
		n := min(len(kvs), promoteBatch)
		batch := kvs[:n]
		kvs = kvs[n:]
		var promoted []model.InstanceID
		_, err := s.st.Txn(ctx, func(stx store.Tx) error {
			promoted = promoted[:0]
			for _, kv := range batch {
				id, ok, err := s.promoteOne(stx, kv)
				if err != nil {
					return err
				}
				if ok {
					promoted = append(promoted, id)
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("promote wired instances: %w", err)
		}
		for _, id := range promoted {
			s.log.Debug("instance wired: running", "instance", id)
		}
	}
	return nil
}

// promoteOne promotes the instance of one report when the report names its
// current record and it is pending.
func (s *Service) promoteOne(stx store.Tx, kv store.KeyValue) (model.InstanceID, bool, error) {
	if !model.IsWiredKey(kv.Key) {
		return "", false, nil // a host's other keys: its record, liveness, counters
	}
	host, scope, id, ok := model.ParseWiredKey(kv.Key)
	var rep model.WiredReport
	if !ok || json.Unmarshal(kv.Value, &rep) != nil {
		s.log.Warn("ignoring a malformed wiring report", "key", kv.Key)
		return "", false, nil
	}
	ikv, err := stx.Get(model.ResourceKey(scope, model.KeyInstance, string(id)))
	if errors.Is(err, store.ErrNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	if ikv.ModRevision != rep.Rev {
		return "", false, nil // a report of an earlier record
	}
	var r instanceRecord
	if err := json.Unmarshal(ikv.Value, &r); err != nil {
		return "", false, fmt.Errorf("decode instance %s: %w", id, err)
	}
	if r.State != model.StatePending {
		return "", false, nil
	}
	if r.Host != "" { // only the agent of the instance's host wires it
		h, ok, err := hosts.ByName(stx, host)
		if err != nil || !ok || h.ID != r.Host {
			return "", false, err
		}
	}
	t := &tx{Tx: stx, s: s, c: Caller{Account: scope.Account, Region: scope.Region}}
	r.State, r.StateChanged = model.StateRunning, s.now().UTC()
	return id, true, t.putInstance(&r)
}
