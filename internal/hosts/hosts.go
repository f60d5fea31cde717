// Package hosts keeps the registry of the machines that run agents, the
// cloud's hosts (modelled on EC2 Dedicated Hosts): an agent registers its
// host (Register), the service reads them (List, ByName, ByID) to place
// instances and answer DescribeHosts.
//
// A host is two keys under its agent's own prefix (model.HostPrefix), so
// that an agent needs write access to nothing else:
//
//	w/<name>/host   its record (model.Host): the h- ID, kept from the first registration
//	w/<name>/alive  present while the agent's store lease lives
//
// The package imports model and store only, so that both the agent and the
// service use it without importing each other.
package hosts

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/store"
)

// DefaultTTL is the lease of a host's liveness key: an agent that stops
// renewing it (killed, or cut off from the store) leaves its host
// available for at most this long.
const DefaultTTL = 10 * time.Second

// Host is a registered host as the store holds it now.
type Host struct {
	model.Host
	// Available: the agent's liveness key exists (DescribeHosts'
	// "available"; else "under-assessment").
	Available bool
}

// Reader is what the registry is read through: a store.Tx, or a store
// through Snapshot.
type Reader interface {
	Get(key string) (store.KeyValue, error)
	List(prefix string, opts store.ListOptions) (store.Page, error)
}

// CheckName validates a host name (palisade agent --host): 1 to 64
// characters of a-z, A-Z, 0-9, '.', '_' and '-', not starting with '.' or
// '-', as a machine's hostname is; it is a segment of store keys.
func CheckName(name string) error {
	ok := name != "" && len(name) <= 64 && name[0] != '.' && name[0] != '-'
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
	}
	if !ok {
		return model.Errorf(model.CodeInvalidParameterValue, "Invalid host name '%s': use 1 to 64 characters of a-z, A-Z, 0-9, '.', '_' and '-', not starting with '.' or '-'.", name)
	}
	return nil
}

// ByName reads the host called name; ok is false if none is registered.
func ByName(r Reader, name string) (h Host, ok bool, err error) {
	kv, err := r.Get(model.HostKey(name))
	if errors.Is(err, store.ErrNotFound) {
		return h, false, nil
	}
	if err != nil {
		return h, false, fmt.Errorf("read host %s: %w", name, err)
	}
	if err := json.Unmarshal(kv.Value, &h.Host); err != nil {
		return h, false, fmt.Errorf("decode host %s: %w", name, err)
	}
	_, err = r.Get(model.HostAliveKey(name))
	switch {
	case err == nil:
		h.Available = true
	case !errors.Is(err, store.ErrNotFound):
		return h, false, fmt.Errorf("read host %s: %w", name, err)
	}
	return h, true, nil
}

// List returns every registered host, sorted by name. It skips from host
// to host over the agents' prefixes (their wiring reports and counters are
// not read): three reads per host.
func List(r Reader) ([]Host, error) {
	var out []Host
	after := ""
	for {
		p, err := r.List(model.HostRoot, store.ListOptions{StartAfter: after, Limit: 1})
		if err != nil {
			return nil, fmt.Errorf("list hosts: %w", err)
		}
		if len(p.KVs) == 0 {
			return out, nil
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(p.KVs[0].Key, model.HostRoot), "/")
		h, ok, err := ByName(r, name)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, h)
		}
		// '0' follows '/': every key of this host sorts before it, and
		// the next host's keys after it.
		after = model.HostRoot + name + "0"
	}
}

// ByID finds the host whose ID is id; ok is false if none has it.
func ByID(r Reader, id model.HostID) (h Host, ok bool, err error) {
	all, err := List(r)
	if err != nil {
		return h, false, err
	}
	for _, h := range all {
		if h.ID == id {
			return h, true, nil
		}
	}
	return h, false, nil
}

// Snapshot reads a store outside a transaction, as a Reader (each read at
// the store's latest revision).
func Snapshot(ctx context.Context, st store.Store) Reader { return snapshot{ctx, st} }

type snapshot struct {
	ctx context.Context
	st  store.Store
}

func (s snapshot) Get(key string) (store.KeyValue, error) { return s.st.Get(s.ctx, key) }

func (s snapshot) List(prefix string, opts store.ListOptions) (store.Page, error) {
	return s.st.List(s.ctx, prefix, opts)
}

// Register registers the host called name, reachable at underlay, and
// marks it available for as long as the returned lease lives (the store
// keeps it alive; it ends with the process, or after ttl without the
// store: see store.Lease). A host registered before keeps its ID; its
// underlay is updated. The caller revokes the lease to leave cleanly, and
// registers again when the lease's Done closes while it should live on.
func Register(ctx context.Context, st store.Store, name string, underlay netip.Addr, ttl time.Duration) (model.Host, store.Lease, error) {
	if err := CheckName(name); err != nil {
		return model.Host{}, nil, err
	}
	id, err := model.NewID(model.KindHost, rand.Reader)
	if err != nil {
		return model.Host{}, nil, err
	}
	now := time.Now().UTC()
	var h model.Host
	if _, err := st.Txn(ctx, func(tx store.Tx) error {
		old, ok, err := ByName(tx, name)
		if err != nil {
			return err
		}
		h = model.Host{ID: model.HostID(id), Name: name, Underlay: underlay, Registered: now}
		if ok {
			h.ID, h.Registered = old.ID, old.Registered
			if old.Underlay == underlay {
				return nil
			}
		}
		b, err := json.Marshal(h)
		if err != nil {
			return err
		}
		return tx.Put(model.HostKey(name), b)
	}); err != nil {
		return model.Host{}, nil, fmt.Errorf("register host %s: %w", name, err)
	}
	lease, err := st.Grant(ctx, ttl)
	if err != nil {
		return model.Host{}, nil, fmt.Errorf("register host %s: %w", name, err)
	}
	if _, err := lease.Put(ctx, model.HostAliveKey(name), []byte(h.ID)); err != nil {
		_ = lease.Revoke(context.WithoutCancel(ctx))
		return model.Host{}, nil, fmt.Errorf("register host %s: %w", name, err)
	}
	return h, lease, nil
}
