package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"time"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/store"
)

// Rules that end on their own carry model.ExpiresAtTag. RunExpiry revokes
// them when their time comes; the data plane stops admitting their new
// flows at that time by itself (kernel element timeouts), so a control
// plane that is down then only delays the revoke in the store, not the
// end of the access.

// ExpireRules revokes the rules of group id (in scope sc) whose expiry is
// at or before now, as RevokeSecurityGroupRules would, and returns them.
// It reads the group inside its transaction, so it is idempotent and safe
// to run on several replicas at once: a rule already revoked, a group
// gone, or an expiry moved later by a concurrent CreateTags is simply not
// revoked.
func (s *Service) ExpireRules(ctx context.Context, sc model.Scope, id model.GroupID, now time.Time) ([]GroupRule, error) {
	var out []GroupRule
	c := Caller{Account: sc.Account, Region: sc.Region}
	err := s.txn(ctx, c, "ExpireRules", func(t *tx) error {
		out = out[:0]
		g, err := t.group(id)
		if model.CodeOf(err) == model.CodeInvalidGroupNotFound {
			return nil
		}
		if err != nil {
			return err
		}
		kept := g.Rules[:0:0]
		for _, r := range g.Rules {
			if r.Expired(now) {
				out = append(out, GroupRule{g.ID, g.Account, r})
			} else {
				kept = append(kept, r)
			}
		}
		if len(out) == 0 {
			return nil
		}
		g.Rules = kept
		return t.put(kindGroup, string(g.ID), g)
	})
	return out, err
}

// noteExpiry keeps the expiry index (model.ExpiryRoot) of group id in step
// with its stored form (nil: deleted): the earliest expiry of its rules,
// or no key. A group with no expiring rule, the common case, costs a
// point read and writes nothing.
func (t *tx) noteExpiry(id string, stored []byte) error {
	key := model.ExpiryKey(t.c.scope(), id)
	if at, ok := earliestExpiry(stored); ok {
		t.setIndex(key, []byte(at.UTC().Format(time.RFC3339Nano)))
		return nil
	}
	_, held, err := t.getIndex(key)
	if err == nil && held {
		t.dropIndex(key)
	}
	return err
}

// expiryRetry is how long RunExpiry waits after a failed revoke or watch
// before it tries again.
const expiryRetry = time.Second

// RunExpiry revokes expiring rules of every account and region until ctx
// ends: those already past on start, then each at its time (one timer on
// the earliest expiry). It reads every group on start, then watches the
// expiry index (model.ExpiryRoot), so an expiry set, moved or removed by
// any replica is seen. It returns ctx's error.
func (s *Service) RunExpiry(ctx context.Context) error {
	for ctx.Err() == nil {
		err := s.runExpiry(ctx)
		if ctx.Err() != nil {
			break
		}
		s.log.Warn("rule expiry: watch ended; listing again", "err", err)
		sleepCtx(ctx, expiryRetry)
	}
	return ctx.Err()
}

// expiryGroup is what RunExpiry decodes of a stored group: its rules' IDs
// and tags.
type expiryGroup struct {
	Rules []struct {
		ID   model.RuleID `json:"id"`
		Tags model.Tags   `json:"tags,omitempty"`
	} `json:"rules,omitempty"`
}

// earliest returns the earliest expiry of a stored group's rules.
func earliestExpiry(value []byte) (time.Time, bool) {
	if !bytes.Contains(value, expiresAtJSON) {
		return time.Time{}, false // no rule of the group expires: nothing to decode
	}
	var g expiryGroup
	if json.Unmarshal(value, &g) != nil {
		return time.Time{}, false
	}
	var min time.Time
	for _, r := range g.Rules {
		at, ok := model.Rule{Tags: r.Tags}.ExpiresAt()
		if ok && (min.IsZero() || at.Before(min)) {
			min = at
		}
	}
	return min, !min.IsZero()
}

// expiresAtJSON is the tag's key as a stored group's JSON holds it.
var expiresAtJSON = []byte(`"` + model.ExpiresAtTag + `"`)

// expirySchedule is the earliest expiry of every group that has one, by
// store key.
type expirySchedule map[string]time.Time

func (sch expirySchedule) put(kv store.KeyValue) {
	if _, kind, _, ok := model.ParseResourceKey(kv.Key); !ok || kind != kindGroup {
		return
	}
	if at, ok := earliestExpiry(kv.Value); ok {
		sch[kv.Key] = at
	} else {
		delete(sch, kv.Key)
	}
}

// index takes an event of the expiry index.
func (sch expirySchedule) index(ev store.Event) {
	sc, id, ok := model.ParseExpiryKey(ev.KV.Key)
	if !ok {
		return
	}
	key := model.ResourceKey(sc, kindGroup, id)
	at, err := time.Parse(time.RFC3339Nano, string(ev.KV.Value))
	if ev.Type == store.EventDelete || err != nil {
		delete(sch, key)
		return
	}
	sch[key] = at
}

func (sch expirySchedule) next() (time.Time, bool) {
	var min time.Time
	for _, at := range sch {
		if min.IsZero() || at.Before(min) {
			min = at
		}
	}
	return min, !min.IsZero()
}

// runExpiry lists the groups, then follows the watch until it fails.
func (s *Service) runExpiry(ctx context.Context) error {
	sch := expirySchedule{}
	var rev int64
	opts := store.ListOptions{Limit: 1000}
	for {
		page, err := s.st.List(ctx, model.ResourceRoot, opts)
		if err != nil {
			return err
		}
		if rev == 0 {
			rev = page.Revision
		}
		for _, kv := range page.KVs {
			sch.put(kv)
		}
		if !page.More {
			break
		}
		opts = page.Next(opts)
	}
	// Pages after the first may be newer than rev: the watch replays
	// their changes again, which takes them as they come. A group stored
	// before the index existed has no key there until it is written
	// again; its entry from the list may then outlive its expiring rules,
	// which only costs ExpireRules a read that finds nothing due.
	ch, err := s.st.Watch(ctx, model.ExpiryRoot, rev)
	if err != nil {
		return err
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		if err := s.expireDue(ctx, sch); err != nil {
			s.log.Warn("rule expiry: revoke failed; retrying", "err", err)
			timer.Reset(expiryRetry)
		} else if at, ok := sch.next(); ok {
			timer.Reset(max(time.Until(at), 0))
		} else {
			timer.Stop()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case resp, ok := <-ch:
			if !ok {
				return ctx.Err()
			}
			if resp.Err != nil {
				return resp.Err
			}
			for _, ev := range resp.Events {
				sch.index(ev)
			}
		case <-timer.C:
		}
	}
}

// expireDue revokes the rules of every group whose earliest expiry has
// come, and logs each one.
func (s *Service) expireDue(ctx context.Context, sch expirySchedule) error {
	now := s.now()
	var errs []error
	for key, at := range sch {
		if at.After(now) {
			continue
		}
		sc, _, id, _ := model.ParseResourceKey(key)
		revoked, err := s.ExpireRules(ctx, sc, model.GroupID(id), now)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, r := range revoked {
			exp, _ := r.Rule.Tags.Get(model.ExpiresAtTag)
			s.log.Info("rule expired: revoked", "account", sc.Account, "region", sc.Region,
				"group", r.Group, "rule", r.Rule.ID, "expires_at", exp)
		}
		// The watch brings the group without the rules; until then, do
		// not try again.
		delete(sch, key)
	}
	return errors.Join(errs...)
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
