package service

import (
	"bytes"
	"encoding/json"
	"sync"

	"palisade.dev/palisade/internal/model"
)

// maxGroupCacheBytes bounds the stored bytes a groupCache keeps (its
// decoded groups take about as much again).
const maxGroupCacheBytes = 8 << 20

// groupCache keeps the groups it decoded, each with the stored JSON it was
// decoded from, by store key. A stored value equal to cached bytes decodes
// to the cached group, so a hit is exact whatever happened in between (a
// rolled-back write, another revision with the same content): rereading an
// unchanged group costs a comparison and a copy instead of a JSON decode,
// which was most of the CPU of DescribeSecurityGroups and of the read half
// of every rule change. A key keeps its last few versions, so that a group
// that comes back to an earlier state (a rule added, described, revoked)
// is still a hit. Safe for concurrent use.
type groupCache struct {
	mu    sync.Mutex
	m     map[string][]cachedGroup // most recently used first
	bytes int                      // sum of len(raw) over m
}

// groupVersions is how many versions of one group a groupCache keeps.
const groupVersions = 3

type cachedGroup struct {
	raw []byte // the stored JSON; the store hands it over (never changed)
	g   model.SecurityGroup
}

// decode sets *g to the group stored under key as raw: a copy of a cached
// one when raw is what it was decoded from, else raw decoded (and cached).
// The caller may change *g freely.
func (c *groupCache) decode(key string, raw []byte, g *model.SecurityGroup) error {
	if e, ok := c.lookup(key, raw); ok {
		*g = e.g.Clone() // cached groups are never changed: no lock needed
		return nil
	}
	var fresh model.SecurityGroup
	if err := json.Unmarshal(raw, &fresh); err != nil {
		return err
	}
	*g = fresh.Clone()
	c.add(key, cachedGroup{raw: raw, g: fresh})
	return nil
}

// written caches g as decoded from raw, which the caller has just encoded
// it into for the store: the next read of those bytes (a describe after a
// rule change) needs no decode. The cached copy has the shape decoding
// gives (empty lists nil); raw with replaced invalid UTF-8 (which decodes
// to something else) is not cached.
func (c *groupCache) written(key string, raw []byte, g *model.SecurityGroup) {
	if bytes.Contains(raw, []byte(`\ufffd`)) {
		return
	}
	d := g.Clone()
	if len(d.Rules) == 0 {
		d.Rules = nil
	}
	if len(d.Tags) == 0 {
		d.Tags = nil
	}
	for i := range d.Rules {
		if len(d.Rules[i].Tags) == 0 {
			d.Rules[i].Tags = nil
		}
	}
	c.add(key, cachedGroup{raw: raw, g: d})
}

// lookup finds the version of key stored as raw and marks it used.
func (c *groupCache) lookup(key string, raw []byte) (cachedGroup, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	vs := c.m[key]
	for i, e := range vs {
		if bytes.Equal(e.raw, raw) {
			copy(vs[1:i+1], vs[:i])
			vs[0] = e
			return e, true
		}
	}
	return cachedGroup{}, false
}

// add caches e as the most recent version of key, dropping the least
// recently used beyond groupVersions, and evicts arbitrary keys to stay
// within maxGroupCacheBytes.
func (c *groupCache) add(key string, e cachedGroup) {
	if len(e.raw) > maxGroupCacheBytes/16 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string][]cachedGroup{}
	}
	vs := []cachedGroup{e}
	c.bytes += len(e.raw)
	for _, old := range c.m[key] {
		if bytes.Equal(old.raw, e.raw) {
			c.bytes -= len(old.raw) // the same version again: keep the new one only
			continue
		}
		vs = append(vs, old)
	}
	for len(vs) > groupVersions {
		c.bytes -= len(vs[len(vs)-1].raw)
		vs = vs[:len(vs)-1]
	}
	delete(c.m, key)
	for k, old := range c.m {
		if c.bytes <= maxGroupCacheBytes {
			break
		}
		delete(c.m, k)
		for _, o := range old {
			c.bytes -= len(o.raw)
		}
	}
	c.m[key] = vs
}
