package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/store"
)

// Resource types, as TagSpecification.N.ResourceType and DescribeTags name
// them.
const (
	ResourceTypeVPC               = "vpc"
	ResourceTypeSubnet            = "subnet"
	ResourceTypeSecurityGroup     = "security-group"
	ResourceTypeSecurityGroupRule = "security-group-rule"
	ResourceTypeInstance          = "instance"
	ResourceTypeNetworkInterface  = "network-interface"
	ResourceTypePrefixList        = "prefix-list"
	// ResourceTypeVolume is accepted by RunInstances and ignored: Palisade
	// has no volumes, but Terraform's volume_tags send it.
	ResourceTypeVolume = "volume"
)

// TagSpecification is one TagSpecification.N of a create request.
type TagSpecification struct {
	ResourceType string
	Tags         model.Tags
}

// SpecTags validates the tag specifications of an operation that may tag
// the allowed resource types, and returns the tags per resource type. A
// type the operation does not create is InvalidParameterValue, as on AWS;
// so is a type given twice, an invalid tag, a key given twice and more than
// 50 tags for one resource.
func SpecTags(specs []TagSpecification, allowed ...string) (map[string]model.Tags, error) {
	out := map[string]model.Tags{}
	for _, sp := range specs {
		if !slices.Contains(allowed, sp.ResourceType) {
			return nil, model.Errorf(model.CodeInvalidParameterValue, "'%s' is not a valid taggable resource type for this operation.", sp.ResourceType)
		}
		if _, dup := out[sp.ResourceType]; dup {
			return nil, model.Errorf(model.CodeInvalidParameterValue, "The same resource type may not be specified more than once in tag specifications")
		}
		if err := checkTagSet(sp.Tags); err != nil {
			return nil, err
		}
		out[sp.ResourceType] = append(model.Tags(nil), sp.Tags...)
	}
	return out, nil
}

// checkTagSet validates tags to be set in one request.
func checkTagSet(tags model.Tags) error {
	seen := map[string]bool{}
	for _, tg := range tags {
		if err := model.CheckTag(tg); err != nil {
			return err
		}
		if seen[tg.Key] {
			return model.Errorf(model.CodeInvalidParameterValue, "Duplicate tag key '%s' specified.", tg.Key)
		}
		seen[tg.Key] = true
	}
	if len(tags) > model.MaxTagsPerResource {
		return tagLimit()
	}
	return nil
}

func tagLimit() error {
	return model.Errorf(model.CodeTagLimitExceeded, "The maximum number of Tags for a resource has been reached.")
}

// taggable maps an ID prefix to the resource it names.
type taggable struct {
	prefix string
	kind   model.Kind
	key    string // store kind of the document holding the tags
	typ    string // resource type
}

// taggables in match order: "sgr-" before "sg-". Rules live inside their
// group's document.
var taggables = []taggable{
	{"sgr-", model.KindRule, kindGroup, ResourceTypeSecurityGroupRule},
	{"sg-", model.KindGroup, kindGroup, ResourceTypeSecurityGroup},
	{"vpc-", model.KindVPC, kindVPC, ResourceTypeVPC},
	{"subnet-", model.KindSubnet, kindSubnet, ResourceTypeSubnet},
	{"i-", model.KindInstance, kindInstance, ResourceTypeInstance},
	{"eni-", model.KindENI, kindENI, ResourceTypeNetworkInterface},
	{"pl-", model.KindPrefixList, kindPL, ResourceTypePrefixList},
}

// resourceOf finds what kind of resource id names. An ID with no taggable
// prefix (r-, eni-attach-, "foo") is InvalidID, as CreateTags answers it on
// AWS; one with a known prefix but bad digits is that kind's Malformed.
func resourceOf(id string) (taggable, error) {
	if !strings.HasPrefix(id, model.KindAttachment.Prefix()) {
		for _, tb := range taggables {
			if strings.HasPrefix(id, tb.prefix) {
				if _, err := model.ParseID(tb.kind, id); err != nil {
					return tb, err
				}
				return tb, nil
			}
		}
	}
	return taggable{}, model.Errorf(model.CodeInvalidID, "The ID '%s' is not valid", id)
}

// CreateTags adds or overwrites tags on resources of any kind Palisade
// stores. It is all or nothing: an unknown resource, an invalid tag or a
// resource that would pass 50 tags changes nothing.
//
// Decided: one request may touch at most store.MaxTxnWrites (128) stored
// documents (the rules of one group count once), since it is one
// transaction; AWS allows up to 1000 IDs.
func (s *Service) CreateTags(ctx context.Context, c Caller, resourceIDs []string, tags model.Tags) error {
	if len(resourceIDs) == 0 {
		return model.Errorf(model.CodeMissingParameter, "The request must contain the parameter resourceIdSet")
	}
	if len(tags) == 0 {
		return model.Errorf(model.CodeMissingParameter, "The request must contain the parameter tagSet")
	}
	if err := checkTagSet(tags); err != nil {
		return err
	}
	if err := checkRuleExpiry(resourceIDs, tags, s.now()); err != nil {
		return err
	}
	return s.txn(ctx, c, "CreateTags", func(t *tx) error {
		ed := newTagEditor(t)
		for _, id := range resourceIDs {
			err := ed.edit(id, func(have model.Tags) (model.Tags, error) {
				for _, tg := range tags {
					have = have.Set(tg.Key, tg.Value)
				}
				if len(have) > model.MaxTagsPerResource {
					return nil, tagLimit()
				}
				return have, nil
			})
			if err != nil {
				return err
			}
		}
		return ed.flush()
	})
}

// checkRuleExpiry validates model.ExpiresAtTag when the request sets it
// on a rule (sgr-); on other resources the tag means nothing.
func checkRuleExpiry(resourceIDs []string, tags model.Tags, now time.Time) error {
	for _, id := range resourceIDs {
		if strings.HasPrefix(id, model.KindRule.Prefix()) {
			return model.CheckExpiryTags(tags, now)
		}
	}
	return nil
}

// TagKey is one Tag.N of DeleteTags: a key, and optionally the value the
// tag must have to be deleted.
type TagKey struct {
	Key   string
	Value *string // nil: delete whatever the value; "" deletes only an empty value
}

// DeleteTags removes tags, with AWS's semantics: a key with a value deletes
// the tag only if the value matches, a key without a value deletes it
// whatever the value, and no keys at all deletes every tag of the
// resources. Deleting a tag that is not there is not an error.
func (s *Service) DeleteTags(ctx context.Context, c Caller, resourceIDs []string, keys []TagKey) error {
	if len(resourceIDs) == 0 {
		return model.Errorf(model.CodeMissingParameter, "The request must contain the parameter resourceIdSet")
	}
	for _, k := range keys {
		v := ""
		if k.Value != nil {
			v = *k.Value
		}
		if err := model.CheckTag(model.Tag{Key: k.Key, Value: v}); err != nil {
			return err
		}
	}
	return s.txn(ctx, c, "DeleteTags", func(t *tx) error {
		ed := newTagEditor(t)
		for _, id := range resourceIDs {
			err := ed.edit(id, func(have model.Tags) (model.Tags, error) {
				if len(keys) == 0 {
					return nil, nil
				}
				for _, k := range keys {
					have = have.Delete(k.Key, k.Value)
				}
				return have, nil
			})
			if err != nil {
				return err
			}
		}
		return ed.flush()
	})
}

// tagEditor edits the tags of stored documents as raw JSON, so that fields
// it does not know (those of newer model versions, the records of other
// files) survive. Several rules of one group are one document and one
// write.
type tagEditor struct {
	t         *tx
	docs      map[string]*rawDoc
	order     []*rawDoc
	ruleGroup map[model.RuleID]model.GroupID // built on the first rule
}

// rawDoc is one stored resource, decoded one level deep.
type rawDoc struct {
	kind, id string
	fields   map[string]json.RawMessage
	rules    []map[string]json.RawMessage // decoded on the first rule edit
	changed  bool
}

func newTagEditor(t *tx) *tagEditor { return &tagEditor{t: t, docs: map[string]*rawDoc{}} }

// edit applies fn to the tags of the resource named id.
func (ed *tagEditor) edit(id string, fn func(model.Tags) (model.Tags, error)) error {
	tb, err := resourceOf(id)
	if err != nil {
		return err
	}
	docID, rule := id, ""
	if tb.kind == model.KindRule {
		g, err := ed.groupOfRule(model.RuleID(id))
		if err != nil {
			return err
		}
		docID, rule = string(g), id
	}
	if tb.kind == model.KindInstance {
		if _, err := ed.t.liveInstance(model.InstanceID(id)); err != nil {
			return err
		}
	}
	d, err := ed.load(tb.key, docID)
	if err != nil {
		return err
	}
	if d == nil {
		return tb.kind.NotFound(id)
	}
	have, err := d.tags(rule)
	if err != nil {
		return err
	}
	next, err := fn(append(model.Tags(nil), have...))
	if err != nil {
		return err
	}
	if slices.Equal(have, next) {
		return nil
	}
	return d.setTags(rule, next)
}

func (ed *tagEditor) groupOfRule(id model.RuleID) (model.GroupID, error) {
	if ed.ruleGroup == nil {
		// Only the IDs: a group's rules are most of its bytes.
		groups, err := list[struct {
			ID    model.GroupID `json:"id"`
			Rules []struct {
				ID model.RuleID `json:"id"`
			} `json:"rules,omitempty"`
		}](ed.t, kindGroup)
		if err != nil {
			return "", err
		}
		ed.ruleGroup = map[model.RuleID]model.GroupID{}
		for _, g := range groups {
			for _, r := range g.Rules {
				ed.ruleGroup[r.ID] = g.ID
			}
		}
	}
	g, ok := ed.ruleGroup[id]
	if !ok {
		return "", model.KindRule.NotFound(string(id))
	}
	return g, nil
}

// load returns the document kind/id, or nil when it does not exist.
func (ed *tagEditor) load(kind, id string) (*rawDoc, error) {
	if d := ed.docs[kind+"/"+id]; d != nil {
		return d, nil
	}
	kv, err := ed.t.Get(resourceKey(ed.t.c, kind, id))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	d := &rawDoc{kind: kind, id: id}
	if err := json.Unmarshal(kv.Value, &d.fields); err != nil {
		return nil, fmt.Errorf("decode %s/%s: %w", kind, id, err)
	}
	ed.docs[kind+"/"+id] = d
	ed.order = append(ed.order, d)
	return d, nil
}

// tags returns the tags of the document, or of its rule.
func (d *rawDoc) tags(rule string) (model.Tags, error) {
	raw := d.fields["tags"]
	if rule != "" {
		r, err := d.rule(rule)
		if err != nil {
			return nil, err
		}
		raw = r["tags"]
	}
	var out model.Tags
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			return nil, fmt.Errorf("decode tags of %s/%s: %w", d.kind, d.id, err)
		}
	}
	return out, nil
}

func (d *rawDoc) setTags(rule string, tags model.Tags) error {
	target := d.fields
	if rule != "" {
		r, err := d.rule(rule)
		if err != nil {
			return err
		}
		target = r
	}
	d.changed = true
	if len(tags) == 0 {
		delete(target, "tags") // as omitempty writes it
		return nil
	}
	b, err := json.Marshal(tags)
	if err != nil {
		return err
	}
	target["tags"] = b
	return nil
}

// rule returns the raw rule with the given ID inside a group document.
func (d *rawDoc) rule(id string) (map[string]json.RawMessage, error) {
	if d.rules == nil {
		if err := json.Unmarshal(d.fields["rules"], &d.rules); err != nil {
			return nil, fmt.Errorf("decode rules of %s: %w", d.id, err)
		}
	}
	for _, r := range d.rules {
		var rid string
		if err := json.Unmarshal(r["id"], &rid); err == nil && rid == id {
			return r, nil
		}
	}
	return nil, model.KindRule.NotFound(id)
}

// flush writes the changed documents.
func (ed *tagEditor) flush() error {
	var changed []*rawDoc
	for _, d := range ed.order {
		if d.changed {
			changed = append(changed, d)
		}
	}
	tooMany := model.Errorf(model.CodeInvalidParameterValue, "One request may tag at most %d resources (the rules of one group count once); split the request.", store.MaxTxnWrites)
	if len(changed) > store.MaxTxnWrites {
		return tooMany
	}
	encoded := make([][]byte, len(changed))
	for i, d := range changed {
		if d.rules != nil {
			b, err := json.Marshal(d.rules)
			if err != nil {
				return err
			}
			d.fields["rules"] = b
		}
		b, err := json.Marshal(d.fields)
		if err != nil {
			return fmt.Errorf("encode %s/%s: %w", d.kind, d.id, err)
		}
		encoded[i] = b
		if d.kind == kindGroup { // a rule's expiry tag moves the group's expiry
			if err := ed.t.noteExpiry(d.id, b); err != nil {
				return err
			}
		}
	}
	if len(changed)+ed.t.pendingIndexWrites() > store.MaxTxnWrites {
		return tooMany
	}
	for i, d := range changed {
		if err := ed.t.Put(resourceKey(ed.t.c, d.kind, d.id), encoded[i]); err != nil {
			return err
		}
	}
	return nil
}

// TagDescription is one item of DescribeTags.
type TagDescription struct {
	ResourceID   string
	ResourceType string
	Key          string
	Value        string
}

// DescribeTags lists the tags of every resource, one item per tag, ordered
// by resource ID and key. Filters: key, value, resource-id, resource-type,
// and tag:<key> (the item's resource has that tag with a matching value).
func (s *Service) DescribeTags(ctx context.Context, c Caller, filters []Filter, p Page) ([]TagDescription, string, error) {
	var probe taggedItem
	if err := checkFilters(filters, probe.fields); err != nil {
		return nil, "", err
	}
	var out []TagDescription
	err := s.read(ctx, c, "DescribeTags", func(t *tx) error {
		items, err := t.taggedResources()
		if err != nil {
			return err
		}
		for _, it := range items {
			for _, tg := range it.tags {
				it.tag = tg
				if matchFilters(filters, it.fields) {
					out = append(out, TagDescription{it.id, it.typ, tg.Key, tg.Value})
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return paginate(out, func(d TagDescription) string { return d.ResourceID + "\x00" + d.Key }, p)
}

// taggedItem is one resource with its tags, and the tag being matched.
type taggedItem struct {
	id, typ string
	tags    model.Tags
	tag     model.Tag
}

func (it *taggedItem) fields(name string) ([]string, bool) {
	switch name {
	case "key":
		return []string{it.tag.Key}, true
	case "value":
		return []string{it.tag.Value}, true
	case "resource-id":
		return []string{it.id}, true
	case "resource-type":
		return []string{it.typ}, true
	}
	return tagFields(it.tags, name)
}

// taggedResources lists every tagged resource of the caller.
func (t *tx) taggedResources() ([]taggedItem, error) {
	var out []taggedItem
	add := func(id, typ string, tags model.Tags) {
		if len(tags) > 0 {
			out = append(out, taggedItem{id: id, typ: typ, tags: tags})
		}
	}
	vpcs, err := list[model.VPC](t, kindVPC)
	if err != nil {
		return nil, err
	}
	for _, v := range vpcs {
		add(string(v.ID), ResourceTypeVPC, v.Tags)
	}
	subnets, err := list[model.Subnet](t, kindSubnet)
	if err != nil {
		return nil, err
	}
	for _, v := range subnets {
		add(string(v.ID), ResourceTypeSubnet, v.Tags)
	}
	groups, err := list[model.SecurityGroup](t, kindGroup)
	if err != nil {
		return nil, err
	}
	for _, g := range groups {
		add(string(g.ID), ResourceTypeSecurityGroup, g.Tags)
		for _, r := range g.Rules {
			add(string(r.ID), ResourceTypeSecurityGroupRule, r.Tags)
		}
	}
	insts, err := t.liveInstances()
	if err != nil {
		return nil, err
	}
	for _, v := range insts {
		add(string(v.ID), ResourceTypeInstance, v.Tags)
	}
	enis, err := list[eniRecord](t, kindENI)
	if err != nil {
		return nil, err
	}
	for _, v := range enis {
		add(string(v.ID), ResourceTypeNetworkInterface, v.Tags)
	}
	pls, err := list[model.PrefixList](t, kindPL)
	if err != nil {
		return nil, err
	}
	for _, v := range pls {
		add(string(v.ID), ResourceTypePrefixList, v.Tags)
	}
	return out, nil
}
