package service

import (
	"context"

	"palisade.dev/palisade/internal/model"
)

// GroupRule is one rule with the group that holds it, as
// DescribeSecurityGroupRules and the Authorize/Revoke responses show it.
type GroupRule struct {
	Group model.GroupID
	Owner model.AccountID
	Rule  model.Rule
}

// AuthorizeInput is AuthorizeSecurityGroupIngress/Egress's request.
type AuthorizeInput struct {
	Group       GroupRef
	Direction   model.Direction
	Permissions []model.PermissionSpec
	Tags        model.Tags // tags of the created rules
}

// Authorize adds rules to a group: every source of every permission becomes
// one rule with its own sgr- ID. It is all or nothing: a duplicate (of a
// stored rule, or within the request), a bad reference or the quota fails
// the whole request and changes nothing.
func (s *Service) Authorize(ctx context.Context, c Caller, in AuthorizeInput) ([]GroupRule, error) {
	if in.Direction == model.Egress && in.Group.ID == "" {
		return nil, model.Errorf(model.CodeMissingParameter, "The request must contain the parameter groupId")
	}
	if err := model.CheckExpiryTags(in.Tags, s.now()); err != nil {
		return nil, err
	}
	var out []GroupRule
	err := s.txn(ctx, c, "AuthorizeSecurityGroup"+dirName(in.Direction), func(t *tx) error {
		// As on AWS, a group that does not exist is the first thing said.
		g, err := t.resolveGroup(in.Group)
		if err != nil {
			return err
		}
		if len(in.Permissions) == 0 {
			return model.Errorf(model.CodeMissingParameter, "The request must contain the parameter ipPermissions")
		}
		rules, err := t.expand(g, in.Direction, in.Permissions, false)
		if err != nil {
			return err
		}
		if err := model.CheckNoRepeats(rules); err != nil {
			return err
		}
		existing := map[model.RuleKey]bool{}
		for _, r := range g.Rules {
			existing[r.Key()] = true
		}
		out = out[:0]
		for _, r := range rules {
			if existing[r.Key()] {
				return r.DuplicateError()
			}
			if err := t.checkPeer(g, r.Peer); err != nil {
				return err
			}
			r.Tags = in.Tags
			r = t.newRule(r)
			g.Rules = append(g.Rules, r)
			out = append(out, GroupRule{g.ID, g.Account, r})
		}
		if err := t.checkQuota(g, in.Direction, rules); err != nil {
			return err
		}
		return t.put(kindGroup, string(g.ID), g)
	})
	return out, err
}

func dirName(d model.Direction) string {
	if d == model.Egress {
		return "Egress"
	}
	return "Ingress"
}

// expand turns permissions into canonical rules for group g, resolving
// group names (default VPC only) first.
func (t *tx) expand(g *model.SecurityGroup, d model.Direction, perms []model.PermissionSpec, strict bool) ([]model.Rule, error) {
	var out []model.Rule
	for _, p := range perms {
		p.Groups = append([]model.GroupSourceSpec(nil), p.Groups...)
		for i := range p.Groups {
			if err := checkPairNetwork(g, p.Groups[i]); err != nil {
				return nil, err
			}
			if p.Groups[i].GroupID != "" || p.Groups[i].GroupName == "" {
				continue
			}
			ref, err := t.groupByName(p.Groups[i].GroupName)
			if err != nil {
				return nil, err
			}
			p.Groups[i].GroupID = string(ref.ID)
		}
		rules, err := p.Rules(d, g.Account, strict)
		if err != nil {
			return nil, err
		}
		out = append(out, rules...)
	}
	return out, nil
}

// checkPairNetwork checks a group pair's VpcId and VpcPeeringConnectionId:
// without peering, a referenced group is in g's own VPC, which a client may
// name, and every peering connection ID names one that does not exist.
func checkPairNetwork(g *model.SecurityGroup, p model.GroupSourceSpec) error {
	if p.PeeringID != "" {
		return model.Errorf(model.CodeInvalidPeeringIDNotFound, "The vpcPeeringConnection ID '%s' does not exist", p.PeeringID)
	}
	if p.VpcID == "" || p.VpcID == string(g.VPC) {
		return nil
	}
	if _, err := model.ParseVpcID(p.VpcID); err != nil {
		return err
	}
	return model.Errorf(model.CodeInvalidGroupNotFound, "You have specified two resources that belong to different networks.")
}

// checkPeer makes sure a rule's peer exists in the caller's account and, for
// a group, in the same VPC (Palisade has no peering).
func (t *tx) checkPeer(g *model.SecurityGroup, p model.Peer) error {
	switch p.Kind {
	case model.PeerGroup:
		if p.GroupOwner != t.c.Account {
			return model.KindGroup.NotFound(string(p.Group))
		}
		if p.Group == g.ID {
			return nil
		}
		ref, err := t.group(p.Group)
		if err != nil {
			return err
		}
		if ref.VPC != g.VPC {
			return model.Errorf(model.CodeInvalidGroupNotFound, "You have specified two resources that belong to different networks.")
		}
	case model.PeerPrefixList:
		_, err := t.prefixList(p.PrefixList)
		return err
	}
	return nil
}

// ruleWeight is what a rule counts against the quota of each family
// (docs/aws-semantics.md#quotas): a CIDR counts one in its family, a group reference
// one in both, a prefix list its MaxEntries in its own family (decided:
// AWS's documentation leaves the other family open).
func (t *tx) ruleWeight(r model.Rule) (v4, v6 int, err error) {
	switch r.Peer.Kind {
	case model.PeerCIDR:
		if r.Peer.IsIPv6() {
			return 0, 1, nil
		}
		return 1, 0, nil
	case model.PeerPrefixList:
		pl, err := t.prefixList(r.Peer.PrefixList)
		if err != nil {
			return 0, 0, err
		}
		if pl.IPv6 {
			return 0, pl.MaxEntries, nil
		}
		return pl.MaxEntries, 0, nil
	}
	return 1, 1, nil
}

// checkQuota fails when a family that the added rules touch is over the
// per-direction quota.
func (t *tx) checkQuota(g *model.SecurityGroup, d model.Direction, added []model.Rule) error {
	var touch4, touch6 bool
	for _, r := range added {
		v4, v6, err := t.ruleWeight(r)
		if err != nil {
			return err
		}
		touch4, touch6 = touch4 || v4 > 0, touch6 || v6 > 0
	}
	var n4, n6 int
	for _, r := range g.RulesOf(d) {
		v4, v6, err := t.ruleWeight(r)
		if err != nil {
			return err
		}
		n4, n6 = n4+v4, n6+v6
	}
	if max := t.s.cfg.MaxRulesPerGroup; (touch4 && n4 > max) || (touch6 && n6 > max) {
		return model.Errorf(model.CodeRulesPerGroupLimitExceeded, "The maximum number of rules per security group has been reached.")
	}
	return nil
}

// RevokeInput is RevokeSecurityGroupIngress/Egress's request: rules by
// value (Permissions) or by ID.
type RevokeInput struct {
	Group       GroupRef
	Direction   model.Direction
	Permissions []model.PermissionSpec
	RuleIDs     []string
}

// RevokeResult is what a revoke removed and, in the default VPC, the
// requested rules that did not exist.
type RevokeResult struct {
	Revoked []GroupRule
	Unknown []model.Rule
}

// Revoke removes rules. Values must match a stored rule exactly (after
// canonicalization; the description does not count). Outside the default
// VPC an unmatched rule fails the request with InvalidPermission.NotFound
// and nothing is revoked; in the default VPC the matched rules are revoked
// and the others returned as Unknown, as AWS documents.
func (s *Service) Revoke(ctx context.Context, c Caller, in RevokeInput) (*RevokeResult, error) {
	if in.Direction == model.Egress && in.Group.ID == "" {
		return nil, model.Errorf(model.CodeMissingParameter, "The request must contain the parameter groupId")
	}
	switch {
	case len(in.Permissions) == 0 && len(in.RuleIDs) == 0:
		return nil, model.Errorf(model.CodeMissingParameter, "The request must contain either ipPermissions or securityGroupRuleIds")
	case len(in.Permissions) > 0 && len(in.RuleIDs) > 0:
		return nil, model.Errorf(model.CodeInvalidParameterCombination, "The parameter ipPermissions cannot be used with the parameter securityGroupRuleIds")
	}
	var res *RevokeResult
	err := s.txn(ctx, c, "RevokeSecurityGroup"+dirName(in.Direction), func(t *tx) error {
		g, err := t.resolveGroup(in.Group)
		if err != nil {
			return err
		}
		res = &RevokeResult{}
		var drop map[model.RuleID]bool
		if len(in.RuleIDs) > 0 {
			drop, err = ruleIDsIn(g, in.Direction, in.RuleIDs)
		} else {
			drop, err = t.matchByValue(g, in, res)
		}
		if err != nil {
			return err
		}
		kept := g.Rules[:0:0]
		for _, r := range g.Rules {
			if drop[r.ID] {
				res.Revoked = append(res.Revoked, GroupRule{g.ID, g.Account, r})
			} else {
				kept = append(kept, r)
			}
		}
		g.Rules = kept
		return t.put(kindGroup, string(g.ID), g)
	})
	return res, err
}

// ruleIDsIn checks that every ID names a rule of direction d in g.
func ruleIDsIn(g *model.SecurityGroup, d model.Direction, ids []string) (map[model.RuleID]bool, error) {
	have := map[model.RuleID]bool{}
	for _, r := range g.RulesOf(d) {
		have[r.ID] = true
	}
	out := map[model.RuleID]bool{}
	for _, s := range ids {
		id, err := model.ParseRuleID(s)
		if err != nil {
			return nil, err
		}
		if !have[id] {
			return nil, model.KindRule.NotFound(s)
		}
		out[id] = true
	}
	return out, nil
}

func (t *tx) matchByValue(g *model.SecurityGroup, in RevokeInput, res *RevokeResult) (map[model.RuleID]bool, error) {
	rules, err := t.expand(g, in.Direction, in.Permissions, false)
	if err != nil {
		return nil, err
	}
	byKey := map[model.RuleKey]model.RuleID{}
	for _, r := range g.Rules {
		byKey[r.Key()] = r.ID
	}
	drop := map[model.RuleID]bool{}
	for _, r := range rules {
		if id, ok := byKey[r.Key()]; ok {
			drop[id] = true
		} else {
			res.Unknown = append(res.Unknown, r)
		}
	}
	if len(res.Unknown) == 0 {
		return drop, nil
	}
	v, err := t.vpc(g.VPC)
	if err != nil {
		return nil, err
	}
	if !v.IsDefault {
		return nil, model.Errorf(model.CodeInvalidPermissionNotFound, "The specified rule does not exist in this security group.")
	}
	return drop, nil
}

// RuleUpdate is one SecurityGroupRule.N of ModifySecurityGroupRules.
type RuleUpdate struct {
	RuleID            string
	Protocol          string
	FromPort, ToPort  *int32
	CIDRv4, CIDRv6    string
	PrefixListID      string
	ReferencedGroupID string
	Description       string
}

// ModifySecurityGroupRules replaces rules in place, keeping their IDs. A
// rule keeps its kind of peer (a CIDR rule stays a CIDR rule of its family).
func (s *Service) ModifySecurityGroupRules(ctx context.Context, c Caller, groupID string, updates []RuleUpdate) error {
	if groupID == "" {
		return model.Errorf(model.CodeMissingParameter, "The request must contain the parameter groupId")
	}
	if len(updates) == 0 {
		return model.Errorf(model.CodeMissingParameter, "The request must contain the parameter securityGroupRules")
	}
	return s.txn(ctx, c, "ModifySecurityGroupRules", func(t *tx) error {
		g, err := t.resolveGroup(GroupRef{ID: groupID})
		if err != nil {
			return err
		}
		index := map[model.RuleID]int{}
		for i, r := range g.Rules {
			index[r.ID] = i
		}
		changed := map[model.Direction][]model.Rule{}
		for _, u := range updates {
			i, ok := index[model.RuleID(u.RuleID)]
			if !ok {
				if _, err := model.ParseRuleID(u.RuleID); err != nil {
					return err
				}
				return model.KindRule.NotFound(u.RuleID)
			}
			r, err := t.updatedRule(g, g.Rules[i], u)
			if err != nil {
				return err
			}
			g.Rules[i] = r
			changed[r.Direction] = append(changed[r.Direction], r)
		}
		seen := map[model.RuleKey]bool{}
		for _, r := range g.Rules {
			if seen[r.Key()] {
				return r.DuplicateError()
			}
			seen[r.Key()] = true
		}
		for d, rs := range changed {
			if err := t.checkQuota(g, d, rs); err != nil {
				return err
			}
		}
		return t.put(kindGroup, string(g.ID), g)
	})
}

func (t *tx) updatedRule(g *model.SecurityGroup, old model.Rule, u RuleUpdate) (model.Rule, error) {
	spec := model.PermissionSpec{Protocol: u.Protocol, FromPort: u.FromPort, ToPort: u.ToPort}
	targets := 0
	for _, v := range []string{u.CIDRv4, u.CIDRv6, u.PrefixListID, u.ReferencedGroupID} {
		if v != "" {
			targets++
		}
	}
	if u.Protocol == "" {
		return old, model.Errorf(model.CodeInvalidParameterValue, "Invalid value 'null' for protocol. VPC security group rules must specify protocols explicitly.")
	}
	switch {
	case targets == 0:
		return old, model.Errorf(model.CodeMissingParameter, "The request must contain exactly one of: cidrIp, cidrIpv6, prefixListId, or referencedGroupId")
	case targets > 1:
		return old, model.Errorf(model.CodeInvalidParameterCombination, "Only one of cidrIp, cidrIpv6, prefixListId, or referencedGroupId can be specified")
	}
	src := model.SourceSpec{Description: u.Description}
	newKind := ""
	switch {
	case u.CIDRv4 != "":
		src.Value, newKind = u.CIDRv4, "CidrIpv4"
		spec.IPv4 = []model.SourceSpec{src}
	case u.CIDRv6 != "":
		src.Value, newKind = u.CIDRv6, "CidrIpv6"
		spec.IPv6 = []model.SourceSpec{src}
	case u.PrefixListID != "":
		src.Value, newKind = u.PrefixListID, "PrefixListId"
		spec.PrefixLists = []model.SourceSpec{src}
	default:
		newKind = "ReferencedGroupId"
		spec.Groups = []model.GroupSourceSpec{{GroupID: u.ReferencedGroupID, Description: u.Description}}
	}
	rules, err := spec.Rules(old.Direction, g.Account, true)
	if err != nil {
		return old, err
	}
	r := rules[0]
	if oldKind := peerKindName(old.Peer); oldKind != newKind {
		return old, model.Errorf(model.CodeInvalidParameterValue,
			"Invalid rule type for security group rule '%s'. You may not specify %s for an existing %s rule.", old.ID, newKind, ruleKindNoun(old.Peer))
	}
	if err := t.checkPeer(g, r.Peer); err != nil {
		return old, err
	}
	r.ID, r.Tags = old.ID, old.Tags
	return r, nil
}

func peerKindName(p model.Peer) string {
	switch {
	case p.Kind == model.PeerGroup:
		return "ReferencedGroupId"
	case p.Kind == model.PeerPrefixList:
		return "PrefixListId"
	case p.IsIPv6():
		return "CidrIpv6"
	}
	return "CidrIpv4"
}

func ruleKindNoun(p model.Peer) string {
	switch {
	case p.Kind == model.PeerGroup:
		return "referenced group"
	case p.Kind == model.PeerPrefixList:
		return "prefix list"
	case p.IsIPv6():
		return "IPv6 CIDR"
	}
	return "IPv4 CIDR"
}

// UpdateDescriptionsInput is UpdateSecurityGroupRuleDescriptionsIngress/
// Egress's request: rules by value with their new descriptions, or by ID.
type UpdateDescriptionsInput struct {
	Group       GroupRef
	Direction   model.Direction
	Permissions []model.PermissionSpec
	ByID        map[string]string // rule ID -> description
}

// UpdateRuleDescriptions sets the descriptions of existing rules (an empty
// description removes it).
func (s *Service) UpdateRuleDescriptions(ctx context.Context, c Caller, in UpdateDescriptionsInput) error {
	if len(in.Permissions) == 0 && len(in.ByID) == 0 {
		return model.Errorf(model.CodeMissingParameter, "The request must contain either ipPermissions or securityGroupRuleDescriptions")
	}
	return s.txn(ctx, c, "UpdateSecurityGroupRuleDescriptions"+dirName(in.Direction), func(t *tx) error {
		g, err := t.resolveGroup(in.Group)
		if err != nil {
			return err
		}
		want := map[model.RuleID]string{}
		if len(in.ByID) > 0 {
			ids := make([]string, 0, len(in.ByID))
			for id, desc := range in.ByID {
				if err := model.CheckRuleDescription(desc); err != nil {
					return err
				}
				ids = append(ids, id)
			}
			found, err := ruleIDsIn(g, in.Direction, ids)
			if err != nil {
				return err
			}
			for id := range found {
				want[id] = in.ByID[string(id)]
			}
		}
		rules, err := t.expand(g, in.Direction, in.Permissions, false)
		if err != nil {
			return err
		}
		byKey := map[model.RuleKey]model.RuleID{}
		for _, r := range g.Rules {
			byKey[r.Key()] = r.ID
		}
		for _, r := range rules {
			id, ok := byKey[r.Key()]
			if !ok {
				return model.Errorf(model.CodeInvalidPermissionNotFound, "The specified rule does not exist in this security group.")
			}
			want[id] = r.Description
		}
		for i := range g.Rules {
			if d, ok := want[g.Rules[i].ID]; ok {
				g.Rules[i].Description = d
			}
		}
		return t.put(kindGroup, string(g.ID), g)
	})
}

// DescribeSecurityGroupRules lists rules by ID and by filter (group-id,
// security-group-rule-id, tag:<key>, tag-key, tag-value). A malformed
// group-id filter value fails; a well-formed unknown one matches nothing.
func (s *Service) DescribeSecurityGroupRules(ctx context.Context, c Caller, ids []string, filters []Filter, p Page) ([]GroupRule, string, error) {
	if err := checkFilters(filters, groupRuleFields(&GroupRule{})); err != nil {
		return nil, "", err
	}
	for _, f := range filters {
		if f.Name != "group-id" {
			continue
		}
		for _, v := range f.Values {
			if _, err := model.ParseID(model.KindGroup, v); err != nil && model.CodeOf(err) == model.CodeInvalidGroupIDMalformed {
				return nil, "", err
			}
		}
	}
	var out []GroupRule
	err := s.read(ctx, c, "DescribeSecurityGroupRules", func(t *tx) error {
		groups, err := list[model.SecurityGroup](t, kindGroup)
		if err != nil {
			return err
		}
		var all []GroupRule
		for _, g := range groups {
			for _, r := range g.Rules {
				all = append(all, GroupRule{g.ID, g.Account, r})
			}
		}
		if out, err = selectByID(all, ids, model.KindRule, func(r GroupRule) string { return string(r.Rule.ID) }); err != nil {
			return err
		}
		out = keep(out, func(r *GroupRule) bool { return matchFilters(filters, groupRuleFields(r)) })
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return paginate(out, func(r GroupRule) string { return string(r.Rule.ID) }, p)
}

func groupRuleFields(r *GroupRule) fieldsFunc {
	return func(name string) ([]string, bool) {
		switch name {
		case "group-id":
			return []string{string(r.Group)}, true
		case "security-group-rule-id":
			return []string{string(r.Rule.ID)}, true
		}
		return tagFields(r.Rule.Tags, name)
	}
}

// Permission is the rules of one group and direction that share protocol
// and ports: DescribeSecurityGroups shows them as one IpPermission whose
// source lists hold every rule's peer.
type Permission struct {
	Key   model.PermissionKey
	Rules []model.Rule
}

// MergePermissions groups rules into permissions, in first-seen order.
func MergePermissions(rules []model.Rule) []Permission {
	var out []Permission
	at := map[model.PermissionKey]int{}
	for _, r := range rules {
		k := r.PermissionKey()
		i, ok := at[k]
		if !ok {
			i = len(out)
			at[k] = i
			out = append(out, Permission{Key: k})
		}
		out[i].Rules = append(out[i].Rules, r)
	}
	return out
}

// ApplyRulesInput is one edit of a group's rules in one direction, as the
// console's rule editor saves it: rules removed by ID and rules added.
type ApplyRulesInput struct {
	GroupID   string
	Direction model.Direction
	Remove    []string // rule IDs of this direction
	Add       []model.PermissionSpec
	// AddTags, when set, holds the tags of the rules of Add[i] at i (the
	// console's "expires after" sets model.ExpiresAtTag there).
	AddTags []model.Tags
}

// ApplyRules removes and adds rules of one group and direction in one
// transaction: with the same checks as Revoke by ID and Authorize, and all
// or nothing. An added rule may equal a removed one (an edited rule whose
// key did not change). It returns the added rules.
func (s *Service) ApplyRules(ctx context.Context, c Caller, in ApplyRulesInput) ([]GroupRule, error) {
	if in.GroupID == "" {
		return nil, model.Errorf(model.CodeMissingParameter, "The request must contain the parameter groupId")
	}
	for _, tags := range in.AddTags {
		if err := checkTagSet(tags); err != nil {
			return nil, err
		}
		if err := model.CheckExpiryTags(tags, s.now()); err != nil {
			return nil, err
		}
	}
	var out []GroupRule
	err := s.txn(ctx, c, "ApplyRules", func(t *tx) error {
		g, err := t.resolveGroup(GroupRef{ID: in.GroupID})
		if err != nil {
			return err
		}
		drop, err := ruleIDsIn(g, in.Direction, in.Remove)
		if err != nil {
			return err
		}
		var rules []model.Rule
		for i, p := range in.Add {
			rs, err := t.expand(g, in.Direction, []model.PermissionSpec{p}, false)
			if err != nil {
				return err
			}
			for j := range rs {
				if i < len(in.AddTags) {
					rs[j].Tags = in.AddTags[i]
				}
			}
			rules = append(rules, rs...)
		}
		if err := model.CheckNoRepeats(rules); err != nil {
			return err
		}
		kept := g.Rules[:0:0]
		existing := map[model.RuleKey]bool{}
		for _, r := range g.Rules {
			if !drop[r.ID] {
				kept = append(kept, r)
				existing[r.Key()] = true
			}
		}
		g.Rules = kept
		out = out[:0]
		for _, r := range rules {
			if existing[r.Key()] {
				return r.DuplicateError()
			}
			if err := t.checkPeer(g, r.Peer); err != nil {
				return err
			}
			r = t.newRule(r)
			g.Rules = append(g.Rules, r)
			out = append(out, GroupRule{g.ID, g.Account, r})
		}
		if len(rules) > 0 {
			if err := t.checkQuota(g, in.Direction, rules); err != nil {
				return err
			}
		}
		return t.put(kindGroup, string(g.ID), g)
	})
	return out, err
}
