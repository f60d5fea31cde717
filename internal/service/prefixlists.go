package service

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"unicode/utf8"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/store"
)

// Customer-managed prefix lists. Decisions:
//
//   - Entries are canonicalized like rule CIDRs ("10.1.2.3/16" is stored as
//     10.1.0.0/16) and must be of the list's family; a CIDR twice (after
//     canonicalization) is InvalidParameterValue.
//   - Adding or removing entries makes a new version; renaming or resizing
//     does not (AWS documents the former and is silent on resizing). The
//     entries of the last keptVersions superseded versions stay readable
//     through GetManagedPrefixListEntries' TargetVersion, each in a key of
//     its own (kind "plv"), so that a list of 1000 entries does not carry its
//     history in one value.
//   - A list referenced by a rule cannot be deleted (DependencyViolation, as
//     for groups), and cannot be resized so that a referencing group passes
//     its rule quota, where a list counts as its MaxEntries (ruleWeight).
const (
	kindPLVersion   = "plv"
	keptVersions    = 20
	maxPLEntries    = 1000
	plStateCreated  = "create-complete"
	plStateModified = "modify-complete"
	plStateDeleted  = "delete-in-progress"
	// plStateDeleteFailed is where a delete of a list that rules still
	// reference ends: the list stays, whole and in use.
	plStateDeleteFailed = "delete-failed"
)

// plRecord is how a prefix list is stored: model.PrefixList plus what it
// does not carry yet (see eniRecord).
type plRecord struct {
	model.PrefixList
	State       string `json:"state,omitempty"`
	ClientToken string `json:"clientToken,omitempty"`
	RequestHash string `json:"requestHash,omitempty"`
}

func (t *tx) plRec(id model.PrefixListID) (*plRecord, error) {
	var v plRecord
	if ok, err := t.get(kindPL, string(id), &v); err != nil || !ok {
		return nil, orNotFound(err, model.KindPrefixList, string(id))
	}
	return &v, nil
}

// ManagedPrefixList is a prefix list as the API shows it (Entries are for
// GetManagedPrefixListEntries; DescribeManagedPrefixLists does not show
// them).
type ManagedPrefixList struct {
	model.PrefixList
	State         string
	AddressFamily string // IPv4 | IPv6
}

func (r *plRecord) view() ManagedPrefixList {
	fam := "IPv4"
	if r.IPv6 {
		fam = "IPv6"
	}
	st := r.State
	if st == "" {
		st = plStateCreated
	}
	return ManagedPrefixList{PrefixList: r.PrefixList, State: st, AddressFamily: fam}
}

// PrefixListEntrySpec is one Entry.N, AddEntry.N or RemoveEntry.N.
type PrefixListEntrySpec struct {
	CIDR        string
	Description string
}

// CreateManagedPrefixListInput is CreateManagedPrefixList's request.
type CreateManagedPrefixListInput struct {
	Name              string
	AddressFamily     string // IPv4 | IPv6
	MaxEntries        *int32
	Entries           []PrefixListEntrySpec
	TagSpecifications []TagSpecification
	ClientToken       string
}

// CreateManagedPrefixList creates a customer-managed prefix list at
// version 1.
func (s *Service) CreateManagedPrefixList(ctx context.Context, c Caller, in CreateManagedPrefixListInput) (*ManagedPrefixList, error) {
	pl, err := checkNewPrefixList(in)
	if err != nil {
		return nil, err
	}
	tags, err := SpecTags(in.TagSpecifications, ResourceTypePrefixList)
	if err != nil {
		return nil, err
	}
	hash := requestHash(in)
	var out ManagedPrefixList
	err = s.txn(ctx, c, "CreateManagedPrefixList", func(t *tx) error {
		if in.ClientToken != "" {
			all, err := list[plRecord](t, kindPL)
			if err != nil {
				return err
			}
			if i := slices.IndexFunc(all, func(r plRecord) bool { return r.ClientToken == in.ClientToken }); i >= 0 {
				if all[i].RequestHash != hash {
					return idempotentMismatch()
				}
				out = all[i].view()
				return nil
			}
		}
		r := &plRecord{PrefixList: *pl, State: plStateCreated, ClientToken: in.ClientToken, RequestHash: hash}
		r.Scope, r.ID, r.Version, r.Tags = c.scope(), model.PrefixListID(s.newID(model.KindPrefixList)), 1, tags[ResourceTypePrefixList]
		out = r.view()
		return t.put(kindPL, string(r.ID), r)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// checkNewPrefixList validates CreateManagedPrefixList's parameters.
func checkNewPrefixList(in CreateManagedPrefixListInput) (*model.PrefixList, error) {
	if err := checkPLName(in.Name); err != nil {
		return nil, err
	}
	pl := &model.PrefixList{Name: in.Name}
	switch in.AddressFamily {
	case "IPv4":
	case "IPv6":
		pl.IPv6 = true
	case "":
		return nil, model.Errorf(model.CodeMissingParameter, "The request must contain the parameter AddressFamily")
	default:
		return nil, model.Errorf(model.CodeInvalidParameterValue, "Invalid value '%s' for AddressFamily. Valid values are IPv4 and IPv6.", in.AddressFamily)
	}
	if in.MaxEntries == nil {
		return nil, model.Errorf(model.CodeMissingParameter, "The request must contain the parameter MaxEntries")
	}
	if err := checkMaxEntries(*in.MaxEntries); err != nil {
		return nil, err
	}
	pl.MaxEntries = int(*in.MaxEntries)
	entries, err := applyEntries(pl, nil, in.Entries, nil)
	if err != nil {
		return nil, err
	}
	pl.Entries = entries
	return pl, checkCount(pl)
}

func checkPLName(name string) error {
	if err := model.CheckText("PrefixListName", name); err != nil {
		return err
	}
	switch {
	case name == "":
		return model.Errorf(model.CodeMissingParameter, "The request must contain the parameter PrefixListName")
	case utf8.RuneCountInString(name) > model.MaxTextLen:
		return model.Errorf(model.CodeInvalidParameterValue, "Value for parameter PrefixListName is invalid. Length exceeds maximum of %d.", model.MaxTextLen)
	case strings.HasPrefix(strings.ToLower(name), "com.amazonaws"):
		return model.Errorf(model.CodeInvalidParameterValue, "Value (%s) for parameter PrefixListName is invalid. Names starting with com.amazonaws are reserved.", name)
	}
	return nil
}

func checkMaxEntries(n int32) error {
	if n < 1 || n > maxPLEntries {
		return model.Errorf(model.CodeInvalidParameterValue, "Value (%d) for parameter MaxEntries is invalid. It must be between 1 and %d.", n, maxPLEntries)
	}
	return nil
}

func checkCount(pl *model.PrefixList) error {
	if len(pl.Entries) > pl.MaxEntries {
		return model.Errorf(model.CodeInvalidParameterValue, "The prefix list would have %d entries, more than its maximum of %d.", len(pl.Entries), pl.MaxEntries)
	}
	return nil
}

// applyEntries returns have with remove taken out and add put in, checked
// against the list's family. Removing a CIDR that is not there, adding one
// that is, and naming one CIDR twice are InvalidParameterValue.
func applyEntries(pl *model.PrefixList, have []model.PrefixListEntry, add, remove []PrefixListEntrySpec) ([]model.PrefixListEntry, error) {
	out := slices.Clone(have)
	touched := map[netip.Prefix]bool{}
	for _, spec := range remove {
		p, err := entryCIDR(pl, spec.CIDR)
		if err != nil {
			return nil, err
		}
		i := slices.IndexFunc(out, func(e model.PrefixListEntry) bool { return e.CIDR == p })
		if touched[p] || i < 0 {
			return nil, model.Errorf(model.CodeInvalidParameterValue, "The prefix list entry %s does not exist.", p)
		}
		touched[p] = true
		out = slices.Delete(out, i, i+1)
	}
	for _, spec := range add {
		p, err := entryCIDR(pl, spec.CIDR)
		if err != nil {
			return nil, err
		}
		if err := model.CheckText("Description", spec.Description); err != nil {
			return nil, err
		}
		if utf8.RuneCountInString(spec.Description) > model.MaxTextLen {
			return nil, model.Errorf(model.CodeInvalidParameterValue, "Value for parameter Description is invalid. Length exceeds maximum of %d.", model.MaxTextLen)
		}
		if touched[p] || slices.ContainsFunc(out, func(e model.PrefixListEntry) bool { return e.CIDR == p }) {
			return nil, model.Errorf(model.CodeInvalidParameterValue, "The prefix list entry %s is given more than once or already exists.", p)
		}
		touched[p] = true
		out = append(out, model.PrefixListEntry{CIDR: p, Description: spec.Description})
	}
	slices.SortFunc(out, func(a, b model.PrefixListEntry) int { return strings.Compare(entryKey(a.CIDR), entryKey(b.CIDR)) })
	return out, nil
}

func entryCIDR(pl *model.PrefixList, s string) (netip.Prefix, error) {
	if s == "" {
		return netip.Prefix{}, model.Errorf(model.CodeMissingParameter, "The request must contain the parameter Cidr")
	}
	p, err := model.ParseCIDR(s)
	if err != nil {
		return p, err
	}
	if p.Addr().Is6() != pl.IPv6 {
		fam := "IPv4"
		if pl.IPv6 {
			fam = "IPv6"
		}
		return p, model.Errorf(model.CodeInvalidParameterValue, "The CIDR %s does not match the address family %s of the prefix list.", s, fam)
	}
	return p, nil
}

// entryKey orders entries by address, then length, as text that sorts so.
func entryKey(p netip.Prefix) string { return fmt.Sprintf("%x/%03d", p.Addr().AsSlice(), p.Bits()) }

// ModifyManagedPrefixListInput is ModifyManagedPrefixList's request.
type ModifyManagedPrefixListInput struct {
	PrefixListID   string
	CurrentVersion *int64 // when given, must be the current version
	Name           string // "": unchanged
	AddEntries     []PrefixListEntrySpec
	RemoveEntries  []PrefixListEntrySpec
	MaxEntries     *int32 // resize; not together with entry changes (as on AWS)
}

// ModifyManagedPrefixList renames, resizes or changes the entries of a
// prefix list. A stale CurrentVersion is PrefixListVersionMismatch.
func (s *Service) ModifyManagedPrefixList(ctx context.Context, c Caller, in ModifyManagedPrefixListInput) (*ManagedPrefixList, error) {
	id, err := model.ParsePrefixListID(in.PrefixListID)
	if err != nil {
		return nil, err
	}
	entries := len(in.AddEntries)+len(in.RemoveEntries) > 0
	if in.MaxEntries != nil {
		if entries {
			return nil, model.Errorf(model.CodeInvalidParameterCombination, "You cannot modify the entries of a prefix list and resize it in the same request.")
		}
		if err := checkMaxEntries(*in.MaxEntries); err != nil {
			return nil, err
		}
	}
	if in.Name != "" {
		if err := checkPLName(in.Name); err != nil {
			return nil, err
		}
	}
	var out ManagedPrefixList
	err = s.txn(ctx, c, "ModifyManagedPrefixList", func(t *tx) error {
		r, err := t.plRec(id)
		if err != nil {
			return err
		}
		if in.CurrentVersion != nil && *in.CurrentVersion != r.Version {
			return model.Errorf(model.CodePrefixListVersionMismatch, "The prefix list has the incorrect version number.")
		}
		if in.Name != "" {
			r.Name = in.Name
		}
		if entries {
			if err := t.newVersion(r, in.AddEntries, in.RemoveEntries); err != nil {
				return err
			}
		}
		if in.MaxEntries != nil {
			if n := int(*in.MaxEntries); n < len(r.Entries) {
				return model.Errorf(model.CodeInvalidParameterValue, "The prefix list has %d entries, more than the new maximum of %d.", len(r.Entries), n)
			}
			r.MaxEntries = int(*in.MaxEntries)
		}
		if in.Name != "" || entries || in.MaxEntries != nil {
			r.State = plStateModified
		}
		if err := t.put(kindPL, string(r.ID), r); err != nil {
			return err
		}
		if in.MaxEntries != nil {
			if err := t.checkResize(r); err != nil {
				return err
			}
		}
		out = r.view()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// newVersion applies entry changes to r as a new version, keeping the
// superseded version's entries and dropping the one now too old.
func (t *tx) newVersion(r *plRecord, add, remove []PrefixListEntrySpec) error {
	next, err := applyEntries(&r.PrefixList, r.Entries, add, remove)
	if err != nil {
		return err
	}
	old := r.Entries
	r.Entries = next
	if err := checkCount(&r.PrefixList); err != nil {
		return err
	}
	if err := t.put(kindPLVersion, versionID(r.ID, r.Version), old); err != nil {
		return err
	}
	if gone := r.Version - keptVersions; gone >= 1 {
		if err := t.del(kindPLVersion, versionID(r.ID, gone)); err != nil {
			return err
		}
	}
	r.Version++
	return nil
}

func versionID(id model.PrefixListID, v int64) string { return fmt.Sprintf("%s/%020d", id, v) }

// checkResize makes sure, once r is stored with its new MaxEntries, that
// every group whose rules reference r is still within its quota
// (checkQuota reads the new size through ruleWeight).
func (t *tx) checkResize(r *plRecord) error {
	groups, err := list[model.SecurityGroup](t, kindGroup)
	if err != nil {
		return err
	}
	for i := range groups {
		g := &groups[i]
		for _, d := range []model.Direction{model.Ingress, model.Egress} {
			refs := slices.DeleteFunc(g.RulesOf(d), func(x model.Rule) bool { return x.Peer.PrefixList != r.ID })
			if len(refs) == 0 {
				continue
			}
			if err := t.checkQuota(g, d, refs); model.CodeOf(err) == model.CodeRulesPerGroupLimitExceeded {
				return model.Errorf(model.CodeRulesPerGroupLimitExceeded, "The maximum number of rules per security group has been reached: with %d entries, prefix list %s would put security group %s over its quota.", r.MaxEntries, r.ID, g.ID)
			} else if err != nil {
				return err
			}
		}
	}
	return nil
}

// DeleteManagedPrefixList deletes a prefix list that no rule references,
// with its kept versions. As on AWS, deleting a list that rules still
// reference is accepted (answered delete-in-progress) and fails afterwards:
// the list stays, in the state delete-failed, and can be deleted again once
// nothing references it.
func (s *Service) DeleteManagedPrefixList(ctx context.Context, c Caller, idText string) (*ManagedPrefixList, error) {
	id, err := model.ParsePrefixListID(idText)
	if err != nil {
		return nil, err
	}
	var out ManagedPrefixList
	err = s.txn(ctx, c, "DeleteManagedPrefixList", func(t *tx) error {
		r, err := t.plRec(id)
		if err != nil {
			return err
		}
		groups, err := list[model.SecurityGroup](t, kindGroup)
		if err != nil {
			return err
		}
		r.State = plStateDeleted
		out = r.view()
		if referenced(groups, id) {
			r.State = plStateDeleteFailed
			return t.put(kindPL, string(id), r)
		}
		page, err := t.List(kindPrefix(t.c, kindPLVersion)+string(id)+"/", store.ListOptions{})
		if err != nil {
			return err
		}
		for _, kv := range page.KVs {
			if err := t.Delete(kv.Key); err != nil {
				return err
			}
		}
		return t.del(kindPL, string(id))
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// referenced reports whether a rule of one of groups references list id.
func referenced(groups []model.SecurityGroup, id model.PrefixListID) bool {
	for _, g := range groups {
		for _, rule := range g.Rules {
			if rule.Peer.Kind == model.PeerPrefixList && rule.Peer.PrefixList == id {
				return true
			}
		}
	}
	return false
}

// DescribeManagedPrefixListsInput is DescribeManagedPrefixLists' request.
type DescribeManagedPrefixListsInput struct {
	IDs     []string
	Filters []Filter // prefix-list-id, prefix-list-name, owner-id, tag:<k>, tag-key
	Page    Page     // MaxResults 1 to 100
}

// DescribeManagedPrefixLists lists the caller's prefix lists.
func (s *Service) DescribeManagedPrefixLists(ctx context.Context, c Caller, in DescribeManagedPrefixListsInput) ([]ManagedPrefixList, string, error) {
	if err := checkFilters(in.Filters, plFields(&ManagedPrefixList{})); err != nil {
		return nil, "", err
	}
	var out []ManagedPrefixList
	err := s.read(ctx, c, "DescribeManagedPrefixLists", func(t *tx) error {
		recs, err := list[plRecord](t, kindPL)
		if err != nil {
			return err
		}
		all := make([]ManagedPrefixList, len(recs))
		for i := range recs {
			all[i] = recs[i].view()
		}
		if out, err = selectByID(all, in.IDs, model.KindPrefixList, func(p ManagedPrefixList) string { return string(p.ID) }); err != nil {
			return err
		}
		out = keep(out, func(p *ManagedPrefixList) bool { return matchFilters(in.Filters, plFields(p)) })
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return paginateWithin(out, func(p ManagedPrefixList) string { return string(p.ID) }, in.Page, 1, 100)
}

func plFields(p *ManagedPrefixList) fieldsFunc {
	return func(name string) ([]string, bool) {
		switch name {
		case "prefix-list-id":
			return []string{string(p.ID)}, true
		case "prefix-list-name":
			return []string{p.Name}, true
		case "owner-id":
			return []string{string(p.Account)}, true
		}
		return tagFields(p.Tags, name)
	}
}

// GetManagedPrefixListEntries lists the entries of a prefix list at its
// current version, or at targetVersion while that version is kept.
func (s *Service) GetManagedPrefixListEntries(ctx context.Context, c Caller, idText string, targetVersion *int64, p Page) ([]model.PrefixListEntry, string, error) {
	id, err := model.ParsePrefixListID(idText)
	if err != nil {
		return nil, "", err
	}
	var entries []model.PrefixListEntry
	err = s.read(ctx, c, "GetManagedPrefixListEntries", func(t *tx) error {
		r, err := t.plRec(id)
		if err != nil {
			return err
		}
		if targetVersion == nil || *targetVersion == r.Version {
			entries = r.Entries
			return nil
		}
		missing := model.Errorf(model.CodeInvalidParameterValue, "Version %d of prefix list %s does not exist or is no longer kept.", *targetVersion, id)
		if *targetVersion < 1 || *targetVersion > r.Version {
			return missing
		}
		ok, err := t.get(kindPLVersion, versionID(id, *targetVersion), &entries)
		if err == nil && !ok {
			err = missing
		}
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return paginateWithin(entries, func(e model.PrefixListEntry) string { return entryKey(e.CIDR) }, p, 1, 100)
}

// paginateWithin is paginate for actions whose MaxResults range is not
// 5-1000 (the prefix list actions take 1-100). Tokens have paginate's
// format.
func paginateWithin[T any](items []T, id func(T) string, p Page, lo, hi int32) ([]T, string, error) {
	if p.MaxResults != 0 && (p.MaxResults < lo || p.MaxResults > hi) {
		return nil, "", model.Errorf(model.CodeInvalidParameterValue,
			"Value ( %d ) for parameter maxResults is invalid. Parameter must be between %d and %d.", p.MaxResults, lo, hi)
	}
	rest, _, err := paginate(items, id, Page{NextToken: p.NextToken})
	if err != nil || p.MaxResults == 0 || len(rest) <= int(p.MaxResults) {
		return rest, "", err
	}
	rest = rest[:p.MaxResults]
	return rest, base64.RawURLEncoding.EncodeToString([]byte("v1:" + id(rest[len(rest)-1]))), nil
}
