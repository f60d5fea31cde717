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
// decoded from, by store key. A stored value equal to the cached bytes
// decodes to the cached group, so a hit is exact whatever happened in
// between (a rolled-back write, another revision with the same content):
// rereading an unchanged group costs a comparison and a copy instead of a
// JSON decode, which was most of the CPU of DescribeSecurityGroups and of
// the read half of every rule change. Safe for concurrent use.
type groupCache struct {
	mu    sync.Mutex
	m     map[string]cachedGroup
	bytes int // sum of len(raw) over m
}

type cachedGroup struct {
	raw []byte // the stored JSON; the store hands it over (never changed)
	g   model.SecurityGroup
}

// decode sets *g to the group stored under key as raw: a copy of the
// cached one when raw is what it was decoded from, else raw decoded (and
// cached). The caller may change *g freely.
func (c *groupCache) decode(key string, raw []byte, g *model.SecurityGroup) error {
	c.mu.Lock()
	e, ok := c.m[key]
	c.mu.Unlock()
	if ok && bytes.Equal(e.raw, raw) {
		*g = e.g.Clone()
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

// add caches e under key, evicting arbitrary entries to stay within
// maxGroupCacheBytes.
func (c *groupCache) add(key string, e cachedGroup) {
	if len(e.raw) > maxGroupCacheBytes/16 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]cachedGroup{}
	}
	if old, ok := c.m[key]; ok {
		c.bytes -= len(old.raw)
	}
	for k, old := range c.m {
		if c.bytes+len(e.raw) <= maxGroupCacheBytes {
			break
		}
		delete(c.m, k)
		c.bytes -= len(old.raw)
	}
	c.m[key] = e
	c.bytes += len(e.raw)
}
