package service

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/store"
)

// The store's key layout is model's (model.ResourceKey); the default VPC
// marker lives apart from the resources:
//
//	d/<account>/<region>               the default VPC was created once
const defaultsRoot = "d/"

// Resource kinds in keys.
const (
	kindVPC      = model.KeyVPC
	kindSubnet   = model.KeySubnet
	kindGroup    = model.KeyGroup
	kindENI      = model.KeyENI
	kindInstance = model.KeyInstance
	kindPL       = model.KeyPrefixList
)

func resourceKey(c Caller, kind, id string) string {
	return model.ResourceKey(c.scope(), kind, id)
}

func kindPrefix(c Caller, kind string) string {
	return model.ResourcePrefix(c.Account, c.Region) + kind + "/"
}

// tx is a store transaction in the caller's scope with typed accessors.
type tx struct {
	store.Tx
	s *Service
	c Caller
	// Index writes are buffered here and written by flushIndexes when the
	// operation has succeeded, so that an operation can count them against
	// store.MaxTxnWrites before they are made (see pendingIndexWrites).
	addrs *addrPools        // the address indexes the operation touched
	index map[string][]byte // other index keys to write; nil value: delete

	heads map[model.GroupID]*groupHead // group heads read (groupHead)
}

func (t *tx) get(kind, id string, v any) (bool, error) {
	kv, err := t.Get(resourceKey(t.c, kind, id))
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := t.s.decode(kv, v); err != nil {
		return false, fmt.Errorf("decode %s/%s: %w", kind, id, err)
	}
	return true, nil
}

// decode decodes a stored resource into v, groups through the service's
// groupCache.
func (s *Service) decode(kv store.KeyValue, v any) error {
	if g, ok := v.(*model.SecurityGroup); ok {
		return s.groups.decode(kv.Key, kv.Value, g)
	}
	return json.Unmarshal(kv.Value, v)
}

func (t *tx) put(kind, id string, v any) error {
	var b []byte
	var err error
	switch g := v.(type) { // the most written kind, encoded without reflection
	case *model.SecurityGroup:
		b = g.AppendJSON(nil)
	case model.SecurityGroup:
		b = g.AppendJSON(nil)
	default:
		b, err = json.Marshal(v)
	}
	if err != nil {
		return fmt.Errorf("encode %s/%s: %w", kind, id, err)
	}
	key := resourceKey(t.c, kind, id)
	if err := t.Put(key, b); err != nil {
		return err
	}
	switch g := v.(type) {
	case *model.SecurityGroup:
		t.s.groups.written(key, b, g)
	case model.SecurityGroup:
		t.s.groups.written(key, b, &g)
	}
	if kind == kindGroup {
		return t.noteExpiry(id, b)
	}
	return nil
}

func (t *tx) del(kind, id string) error {
	if err := t.Delete(resourceKey(t.c, kind, id)); err != nil {
		return err
	}
	if kind == kindGroup {
		return t.noteExpiry(id, nil)
	}
	return nil
}

// list decodes every resource of kind in the caller's scope.
func list[T any](t *tx, kind string) ([]T, error) {
	page, err := t.List(kindPrefix(t.c, kind), store.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, len(page.KVs))
	for _, kv := range page.KVs {
		var v T
		if err := t.s.decode(kv, &v); err != nil {
			return nil, fmt.Errorf("decode %s: %w", kv.Key, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// listMentioning decodes the resources of kind whose stored JSON mentions
// id (as a whole string value): the write paths that look for the
// resources that refer to one ID (a group's users, a subnet's interfaces,
// an attachment's interface) skip decoding the thousands that do not. IDs
// are plain ASCII, stored unescaped, so a resource that refers to id
// contains "id" verbatim; a mention elsewhere (a tag, a description) only
// costs a decode, and callers still check the field they mean.
func listMentioning[T any](t *tx, kind, id string) ([]T, error) {
	page, err := t.List(kindPrefix(t.c, kind), store.ListOptions{})
	if err != nil {
		return nil, err
	}
	quoted := []byte(strconv.Quote(id))
	var out []T
	for _, kv := range page.KVs {
		if !bytes.Contains(kv.Value, quoted) {
			continue
		}
		var v T
		if err := json.Unmarshal(kv.Value, &v); err != nil {
			return nil, fmt.Errorf("decode %s: %w", kv.Key, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// Partial views of stored resources, for write paths that check one thing
// of every resource of a kind: decoding only that skips the rest (an
// interface's addresses and tags, a group's rules), which is most of the
// cost of reading thousands of them.
type (
	// eniPlace is where an interface is and what it is attached as.
	eniPlace struct {
		ID         model.ENIID     `json:"id"`
		VPC        model.VpcID     `json:"vpc"`
		Subnet     model.SubnetID  `json:"subnet"`
		Groups     []model.GroupID `json:"groups"`
		Attachment *struct {
			ID model.AttachmentID `json:"id"`
		} `json:"attachment,omitempty"`
	}
	// groupPeers is which groups a group's rules reference.
	groupPeers struct {
		ID    model.GroupID `json:"id"`
		Rules []struct {
			Peer struct {
				Kind  model.PeerKind `json:"kind"`
				Group model.GroupID  `json:"group,omitempty"`
			} `json:"peer"`
		} `json:"rules,omitempty"`
	}
)

// Typed getters: each returns the EC2 not-found error for a missing ID.

func (t *tx) vpc(id model.VpcID) (*model.VPC, error) {
	var v model.VPC
	if ok, err := t.get(kindVPC, string(id), &v); err != nil || !ok {
		return nil, orNotFound(err, model.KindVPC, string(id))
	}
	return &v, nil
}

func (t *tx) subnet(id model.SubnetID) (*model.Subnet, error) {
	var v model.Subnet
	if ok, err := t.get(kindSubnet, string(id), &v); err != nil || !ok {
		return nil, orNotFound(err, model.KindSubnet, string(id))
	}
	return &v, nil
}

func (t *tx) group(id model.GroupID) (*model.SecurityGroup, error) {
	var v model.SecurityGroup
	if ok, err := t.get(kindGroup, string(id), &v); err != nil || !ok {
		return nil, orNotFound(err, model.KindGroup, string(id))
	}
	return &v, nil
}

func (t *tx) eni(id model.ENIID) (*model.ENI, error) {
	var v model.ENI
	if ok, err := t.get(kindENI, string(id), &v); err != nil || !ok {
		return nil, orNotFound(err, model.KindENI, string(id))
	}
	return &v, nil
}

func (t *tx) instance(id model.InstanceID) (*model.Instance, error) {
	var v model.Instance
	if ok, err := t.get(kindInstance, string(id), &v); err != nil || !ok {
		return nil, orNotFound(err, model.KindInstance, string(id))
	}
	return &v, nil
}

func (t *tx) prefixList(id model.PrefixListID) (*model.PrefixList, error) {
	var v model.PrefixList
	if ok, err := t.get(kindPL, string(id), &v); err != nil || !ok {
		return nil, orNotFound(err, model.KindPrefixList, string(id))
	}
	return &v, nil
}

func orNotFound(err error, k model.Kind, id string) error {
	if err != nil {
		return err
	}
	return k.NotFound(id)
}
