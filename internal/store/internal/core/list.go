package core

import (
	"fmt"

	"palisade.dev/palisade/internal/store"
)

// List implements store.Tx: the Base's keys merged with the buffered writes.
func (o *Overlay) List(prefix string, opts store.ListOptions) (store.Page, error) {
	if err := CheckListOptions(opts); err != nil {
		return store.Page{}, err
	}
	if o.ended {
		return store.Page{}, fmt.Errorf("transaction used after its function returned: %w", store.ErrInvalidArgument)
	}
	m := merger{o: o, pend: o.pendingKeys(prefix, opts.StartAfter), limit: opts.Limit}
	if err := o.base.Scan(prefix, opts.StartAfter, m.base); err != nil {
		return store.Page{}, fmt.Errorf("list %q: %w", prefix, err)
	}
	m.rest()
	return m.page(o.readRev), nil
}

// merger merges, in key order, a Base scan with the sorted pending keys,
// collecting one more key than the limit to know whether more remain.
type merger struct {
	o     *Overlay
	pend  []string // pending keys not yet merged
	limit int
	out   []store.KeyValue
}

// base takes one key of the Base scan; it returns false once enough keys
// have been collected.
func (m *merger) base(kv store.KeyValue) bool {
	m.pendingBefore(kv.Key)
	if m.full() {
		return false
	}
	if len(m.pend) > 0 && m.pend[0] == kv.Key {
		m.pend = m.pend[1:]
		if p := m.o.writes[kv.Key]; !p.deleted {
			m.add(m.o.pendingKV(kv.Key, p, kv, true))
		}
	} else {
		m.add(kv)
	}
	return !m.full()
}

// pendingBefore adds the pending puts of keys sorting before key.
func (m *merger) pendingBefore(key string) {
	for len(m.pend) > 0 && m.pend[0] < key && !m.full() {
		m.addPending(m.pend[0])
		m.pend = m.pend[1:]
	}
}

// rest adds the pending puts left once the Base scan ends.
func (m *merger) rest() {
	for _, k := range m.pend {
		if m.full() {
			return
		}
		m.addPending(k)
	}
}

// addPending adds a pending key absent from the Base, if it is a put.
func (m *merger) addPending(key string) {
	if p := m.o.writes[key]; !p.deleted {
		m.add(m.o.pendingKV(key, p, store.KeyValue{}, false))
	}
}

func (m *merger) add(kv store.KeyValue) { m.out = append(m.out, kv) }

func (m *merger) full() bool { return m.limit > 0 && len(m.out) > m.limit }

// page trims the extra key and reports it as More.
func (m *merger) page(rev int64) store.Page {
	p := store.Page{KVs: m.out, Revision: rev}
	if m.full() {
		p.KVs, p.More = m.out[:m.limit], true
	}
	return p
}
