package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/store"
)

// relistDelay is the pause before following the store again after a watch
// failed for a reason other than Close.
const relistDelay = time.Second

// load replaces the mirror with the store's accounts and keys, read at one
// revision, and returns that revision.
func (a *Accounts) load(ctx context.Context) (int64, error) {
	page, err := a.st.List(ctx, authPrefix, store.ListOptions{})
	if err != nil {
		return 0, fmt.Errorf("load accounts: %w", err)
	}
	keys := map[string]entry[AccessKey]{}
	accounts := map[model.AccountID]entry[accountRecord]{}
	for _, kv := range page.KVs {
		if err := decodeInto(kv, keys, accounts); err != nil {
			return 0, fmt.Errorf("load accounts: %w", err)
		}
	}
	a.mu.Lock()
	a.keys, a.accounts = keys, accounts
	a.mu.Unlock()
	return page.Revision, nil
}

// decodeInto adds one stored account or key to the maps; other keys under
// authPrefix are ignored.
func decodeInto(kv store.KeyValue, keys map[string]entry[AccessKey], accounts map[model.AccountID]entry[accountRecord]) error {
	switch {
	case strings.HasPrefix(kv.Key, keysPrefix):
		var k AccessKey
		if err := json.Unmarshal(kv.Value, &k); err != nil {
			return fmt.Errorf("decode %s: %w", kv.Key, err)
		}
		keys[strings.TrimPrefix(kv.Key, keysPrefix)] = entry[AccessKey]{k, kv.ModRevision}
	case strings.HasPrefix(kv.Key, accountsPrefix):
		var r accountRecord
		if err := json.Unmarshal(kv.Value, &r); err != nil {
			return fmt.Errorf("decode %s: %w", kv.Key, err)
		}
		accounts[model.AccountID(strings.TrimPrefix(kv.Key, accountsPrefix))] = entry[accountRecord]{r, kv.ModRevision}
	}
	return nil
}

// follow applies the store's changes to the mirror until ctx ends. A watch
// that falls behind compaction (or fails otherwise) reloads and resumes.
func (a *Accounts) follow(ctx context.Context, rev int64) {
	defer close(a.done)
	for {
		err := a.watch(ctx, rev)
		if ctx.Err() != nil || errors.Is(err, store.ErrClosed) {
			return
		}
		a.log.Warn("watch of accounts ended; reloading", "err", err)
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(relistDelay):
			}
			if rev, err = a.load(ctx); err == nil {
				break
			}
			if errors.Is(err, store.ErrClosed) {
				return
			}
			a.log.Error("reload of accounts failed", "err", err)
		}
	}
}

// watch applies changes after rev until the watch ends, and says why.
func (a *Accounts) watch(ctx context.Context, rev int64) error {
	ch, err := a.st.Watch(ctx, authPrefix, rev)
	if err != nil {
		return err
	}
	for resp := range ch {
		if resp.Err != nil {
			return resp.Err
		}
		for _, ev := range resp.Events {
			if err := a.apply(ev); err != nil {
				a.log.Error("bad account record in store", "key", ev.KV.Key, "err", err)
			}
		}
	}
	return ctx.Err()
}

// apply mirrors one stored change.
func (a *Accounts) apply(ev store.Event) error {
	keys := map[string]entry[AccessKey]{}
	accounts := map[model.AccountID]entry[accountRecord]{}
	if ev.Type == store.EventPut {
		if err := decodeInto(ev.KV, keys, accounts); err != nil {
			return err
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	rev := ev.KV.ModRevision
	switch {
	case strings.HasPrefix(ev.KV.Key, keysPrefix):
		setNewer(a.keys, strings.TrimPrefix(ev.KV.Key, keysPrefix), keys, rev)
	case strings.HasPrefix(ev.KV.Key, accountsPrefix):
		setNewer(a.accounts, model.AccountID(strings.TrimPrefix(ev.KV.Key, accountsPrefix)), accounts, rev)
	}
	return nil
}

// setNewer sets m[k] to from[k] (or deletes it when from lacks k) unless m
// already holds a newer revision.
func setNewer[K comparable, V any](m map[K]entry[V], k K, from map[K]entry[V], rev int64) {
	if cur, ok := m[k]; ok && cur.rev > rev {
		return
	}
	if e, ok := from[k]; ok {
		m[k] = e
		return
	}
	delete(m, k)
}

// remember mirrors what this process has just committed at rev, before the
// watch reports it, so that a new key works as soon as Create returns.
func (a *Accounts) remember(rec accountRecord, key AccessKey, rev int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if cur, ok := a.accounts[rec.ID]; !ok || cur.rev <= rev {
		a.accounts[rec.ID] = entry[accountRecord]{rec, rev}
	}
	if cur, ok := a.keys[key.ID]; !ok || cur.rev <= rev {
		a.keys[key.ID] = entry[AccessKey]{key, rev}
	}
}
