package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/store"
)

// Secondary indexes (model.IndexRoot). The write paths (create, delete
// and modify an interface, launch and terminate) must not read every
// interface, group or instance of the account, or they slow down as it
// grows: these keys answer their questions with point reads, and every
// operation that changes what they derive from updates them in the same
// transaction (an operation that adds or frees addresses goes through
// t.pools() and deleteENI):
//
//	x/<account>/<region>/indexed                 the scope's indexes are built (indexVersion)
//	x/<account>/<region>/ip/<subnet>…            used addresses of a subnet (addresses.go)
//	x/<account>/<region>/eni-token/<token>       ID of the interface a ClientToken made
//	x/<account>/<region>/run-token/<token>       IDs of the instances a RunInstances ClientToken launched
//	x/<account>/<region>/instances               how many instances are not terminated
//	x/<account>/<region>/default-sg/<vpc>        ID of the VPC's default group
//
// A store written before the indexes existed has none of them: the first
// request of the scope in a process builds them (ensureIndexes) before any
// operation runs, and writes the indexed marker last.
const indexVersion = "1"

func indexKey(c Caller, rest string) string { return model.IndexPrefix(c.Account, c.Region) + rest }

func indexedKey(c Caller) string { return indexKey(c, "indexed") }

// eniTokenKey escapes the token: ClientTokens are any printable ASCII,
// slashes included.
func eniTokenKey(c Caller, token string) string {
	return indexKey(c, "eni-token/"+url.PathEscape(token))
}

func runTokenKey(c Caller, token string) string {
	return indexKey(c, "run-token/"+url.PathEscape(token))
}

func instanceCountKey(c Caller) string { return indexKey(c, "instances") }

func defaultGroupKey(c Caller, vpc model.VpcID) string {
	return indexKey(c, "default-sg/"+string(vpc))
}

// getIndex reads an index key through the writes buffered in t.index.
func (t *tx) getIndex(key string) ([]byte, bool, error) {
	if v, ok := t.index[key]; ok {
		return v, v != nil, nil
	}
	kv, err := t.Get(key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return kv.Value, true, nil
}

// setIndex buffers an index write; flushIndexes makes it.
func (t *tx) setIndex(key string, value []byte) {
	if t.index == nil {
		t.index = map[string][]byte{}
	}
	t.index[key] = value
}

// dropIndex buffers the deletion of an index key.
func (t *tx) dropIndex(key string) { t.setIndex(key, nil) }

// pendingIndexWrites is how many keys flushIndexes will write: operations
// that write many keys count them against store.MaxTxnWrites.
func (t *tx) pendingIndexWrites() int {
	return len(t.index) + t.addrs.pendingWrites()
}

// flushIndexes writes the buffered index keys, in key order.
func (t *tx) flushIndexes() error {
	keys := make([]string, 0, len(t.index))
	for k := range t.index {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		var err error
		if v := t.index[k]; v != nil {
			err = t.Put(k, v)
		} else {
			err = t.Delete(k)
		}
		if err != nil {
			return err
		}
	}
	t.index = nil
	return t.addrs.flush()
}

// eniByToken finds the interface a ClientToken made, if it still exists.
func (t *tx) eniByToken(token string) (*eniRecord, error) {
	if token == "" {
		return nil, nil
	}
	v, ok, err := t.getIndex(eniTokenKey(t.c, token))
	if err != nil || !ok {
		return nil, err
	}
	// Deleting an interface drops its entry; a stale one would be no match
	// either.
	var e eniRecord
	if ok, err := t.get(kindENI, string(v), &e); err != nil || !ok || e.ClientToken != token {
		return nil, err
	}
	return &e, nil
}

// defaultGroup returns the ID of a VPC's default group.
func (t *tx) defaultGroup(vpc model.VpcID) (model.GroupID, error) {
	v, ok, err := t.getIndex(defaultGroupKey(t.c, vpc))
	if err != nil {
		return "", err
	}
	if !ok {
		return "", model.Errorf(model.CodeInvalidGroupNotFound, "The security group '%s' does not exist in VPC '%s'", model.DefaultGroupName, vpc)
	}
	return model.GroupID(v), nil
}

// instancesByToken returns the visible instances a RunInstances
// ClientToken launched.
func (t *tx) instancesByToken(token string) ([]instanceRecord, error) {
	ids, err := t.runToken(token)
	if err != nil {
		return nil, err
	}
	var out []instanceRecord
	for _, id := range ids {
		var r instanceRecord
		ok, err := t.get(kindInstance, string(id), &r)
		if err != nil {
			return nil, err
		}
		if ok && r.ClientToken == token && !t.s.expired(&r.Instance) {
			out = append(out, r)
		}
	}
	return out, nil
}

// runToken reads the instance IDs of a RunInstances ClientToken.
func (t *tx) runToken(token string) ([]model.InstanceID, error) {
	if token == "" {
		return nil, nil
	}
	v, ok, err := t.getIndex(runTokenKey(t.c, token))
	if err != nil || !ok {
		return nil, err
	}
	var ids []model.InstanceID
	if err := json.Unmarshal(v, &ids); err != nil {
		return nil, fmt.Errorf("decode instances of client token %q: %w", token, err)
	}
	return ids, nil
}

// setRunToken stores the instance IDs of a ClientToken (none: deletes it).
func (t *tx) setRunToken(token string, ids []model.InstanceID) {
	if len(ids) == 0 {
		t.dropIndex(runTokenKey(t.c, token))
		return
	}
	b, err := json.Marshal(ids)
	if err != nil {
		panic(err) // IDs always encode
	}
	t.setIndex(runTokenKey(t.c, token), b)
}

// activeInstances reads how many instances are not terminated, the number
// maxInstancesPerRegion caps.
func (t *tx) activeInstances() (int, error) {
	v, ok, err := t.getIndex(instanceCountKey(t.c))
	if err != nil || !ok {
		return 0, err
	}
	n, err := strconv.Atoi(string(v))
	if err != nil {
		return 0, fmt.Errorf("decode instance count: %w", err)
	}
	return n, nil
}

// addActiveInstances changes the count of instances not terminated.
func (t *tx) addActiveInstances(d int) error {
	n, err := t.activeInstances()
	if err != nil {
		return err
	}
	t.setIndex(instanceCountKey(t.c), []byte(strconv.Itoa(n+d)))
	return nil
}

// ensureIndexes builds the indexes of a scope whose store predates them,
// in as many transactions as store.MaxTxnWrites requires. No operation of
// the scope runs in this process meanwhile (ensureDefaults), and every
// step is idempotent and derives what it writes from what it reads in the
// same transaction, so a crash, or a second process doing the same, only
// repeats work. Another process still running code without the indexes
// would leave them stale: upgrade every server of a store together.
func (s *Service) ensureIndexes(ctx context.Context, c Caller) error {
	step := migration{}
	for step.phase != migrationDone {
		_, err := s.st.Txn(ctx, func(stx store.Tx) error {
			t := &tx{Tx: stx, s: s, c: c}
			next, err := t.migrate(step)
			if err != nil {
				return err
			}
			if err := t.flushIndexes(); err != nil {
				return err
			}
			step = next
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// migration is how far ensureIndexes has come.
type migration struct {
	phase int
	after string // tokens: the last interface key done
}

const (
	migrateAddresses = iota
	migrateDefaultGroups
	migrateENITokens
	migrateInstanceCount
	migrateRunTokens
	migrationDone
)

// migrationBudget is the index writes one migration transaction makes
// before it stops and leaves the rest to the next: half of
// store.MaxTxnWrites, since one subnet's address index may add a few
// more keys after the check.
const migrationBudget = store.MaxTxnWrites / 2

// migrate does one transaction's worth of ensureIndexes and returns where
// the next one starts.
func (t *tx) migrate(m migration) (migration, error) {
	if _, done, err := t.getIndex(indexedKey(t.c)); err != nil || done {
		return migration{phase: migrationDone}, err
	}
	switch m.phase {
	case migrateAddresses:
		return t.migrateAddresses()
	case migrateDefaultGroups:
		return t.migrateDefaultGroups()
	case migrateENITokens:
		return t.migrateENITokens(m.after)
	case migrateInstanceCount:
		return t.migrateInstanceCount()
	}
	return t.migrateRunTokens(m.after)
}

// migrateAddresses builds the address index of every subnet that has none.
func (t *tx) migrateAddresses() (migration, error) {
	subnets, err := list[model.Subnet](t, kindSubnet)
	if err != nil {
		return migration{}, err
	}
	for i := range subnets {
		if t.pendingIndexWrites() >= migrationBudget {
			return migration{phase: migrateAddresses}, nil
		}
		if _, err := t.pools().of(&subnets[i]); err != nil {
			return migration{}, err
		}
	}
	return migration{phase: migrateDefaultGroups}, nil
}

func (t *tx) migrateDefaultGroups() (migration, error) {
	groups, err := list[groupHead](t, kindGroup)
	if err != nil {
		return migration{}, err
	}
	for _, g := range groups {
		if g.Name != model.DefaultGroupName {
			continue
		}
		key := defaultGroupKey(t.c, g.VPC)
		if _, ok, err := t.getIndex(key); err != nil || ok {
			if err != nil {
				return migration{}, err
			}
			continue
		}
		if t.pendingIndexWrites() >= migrationBudget {
			return migration{phase: migrateDefaultGroups}, nil
		}
		t.setIndex(key, []byte(g.ID))
	}
	return migration{phase: migrateENITokens}, nil
}

// eniHead is the part of a stored interface the token migration reads.
type eniHead struct {
	ID          model.ENIID `json:"id"`
	ClientToken string      `json:"clientToken,omitempty"`
}

// migrateENITokens indexes the ClientTokens of one page of interfaces, in
// key order; were two interfaces to carry one token, the first would win,
// as in the scan the index replaces.
func (t *tx) migrateENITokens(after string) (migration, error) {
	page, err := t.List(kindPrefix(t.c, kindENI), store.ListOptions{StartAfter: after, Limit: migrationBudget})
	if err != nil {
		return migration{}, err
	}
	for _, kv := range page.KVs {
		var e eniHead
		if err := jsonDecode(kv, &e); err != nil {
			return migration{}, err
		}
		if e.ClientToken == "" {
			continue
		}
		key := eniTokenKey(t.c, e.ClientToken)
		if _, ok, err := t.getIndex(key); err != nil || ok {
			if err != nil {
				return migration{}, err
			}
			continue
		}
		t.setIndex(key, []byte(e.ID))
	}
	if page.More {
		return migration{phase: migrateENITokens, after: page.KVs[len(page.KVs)-1].Key}, nil
	}
	return migration{phase: migrateInstanceCount}, nil
}

func (t *tx) migrateInstanceCount() (migration, error) {
	all, err := list[instanceRecord](t, kindInstance)
	if err != nil {
		return migration{}, err
	}
	n := 0
	for i := range all {
		if all[i].State != model.StateTerminated {
			n++
		}
	}
	t.setIndex(instanceCountKey(t.c), []byte(strconv.Itoa(n)))
	return migration{phase: migrateRunTokens}, nil
}

// migrateRunTokens adds one page of visible instances to the lists of
// their ClientTokens; the last page writes the indexed marker.
func (t *tx) migrateRunTokens(after string) (migration, error) {
	page, err := t.List(kindPrefix(t.c, kindInstance), store.ListOptions{StartAfter: after, Limit: migrationBudget})
	if err != nil {
		return migration{}, err
	}
	for _, kv := range page.KVs {
		var r instanceRecord
		if err := jsonDecode(kv, &r); err != nil {
			return migration{}, err
		}
		if r.ClientToken == "" || t.s.expired(&r.Instance) {
			continue
		}
		ids, err := t.runToken(r.ClientToken)
		if err != nil {
			return migration{}, err
		}
		if !slices.Contains(ids, r.ID) {
			t.setRunToken(r.ClientToken, append(ids, r.ID))
		}
	}
	if page.More {
		return migration{phase: migrateRunTokens, after: page.KVs[len(page.KVs)-1].Key}, nil
	}
	t.setIndex(indexedKey(t.c), []byte(indexVersion))
	return migration{phase: migrationDone}, nil
}

func jsonDecode(kv store.KeyValue, v any) error {
	if err := json.Unmarshal(kv.Value, v); err != nil {
		return fmt.Errorf("decode %s: %w", kv.Key, err)
	}
	return nil
}
