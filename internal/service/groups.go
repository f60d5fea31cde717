package service

import (
	"context"
	"slices"
	"strconv"

	"palisade.dev/palisade/internal/model"
)

// GroupRef names a security group by ID, or by name in the default VPC
// (names address groups of the default VPC only, as on AWS).
type GroupRef struct {
	ID   string
	Name string
}

// resolveGroup finds the group a GroupRef names.
func (t *tx) resolveGroup(ref GroupRef) (*model.SecurityGroup, error) {
	if ref.ID != "" {
		id, err := model.ParseGroupID(ref.ID)
		if err != nil {
			return nil, err
		}
		return t.group(id)
	}
	if ref.Name == "" {
		return nil, model.Errorf(model.CodeMissingParameter, "The request must contain the parameter groupName or groupId")
	}
	return t.groupByName(ref.Name)
}

// groupByName finds a group of the default VPC by name.
func (t *tx) groupByName(name string) (*model.SecurityGroup, error) {
	def, err := t.defaultVPC()
	if err != nil {
		return nil, err
	}
	groups, err := list[groupHead](t, kindGroup)
	if err != nil {
		return nil, err
	}
	for _, g := range groups {
		if g.VPC == def.ID && model.SameGroupName(g.Name, name) {
			return t.group(g.ID)
		}
	}
	return nil, model.Errorf(model.CodeInvalidGroupNotFound, "The security group '%s' does not exist in default VPC '%s'", name, def.ID)
}

// CreateSecurityGroupInput is CreateSecurityGroup's request.
type CreateSecurityGroupInput struct {
	Name        string
	Description string
	VpcID       string // empty: the default VPC
	Tags        model.Tags
}

// CreateSecurityGroup creates a group with no ingress and AWS's default
// egress (all traffic to 0.0.0.0/0, and ::/0 when the VPC has IPv6).
func (s *Service) CreateSecurityGroup(ctx context.Context, c Caller, in CreateSecurityGroupInput) (*model.SecurityGroup, error) {
	name, err := model.CanonicalGroupName(in.Name)
	if err != nil {
		return nil, err
	}
	if err := model.CheckGroupDescription(in.Description); err != nil {
		return nil, err
	}
	var out *model.SecurityGroup
	err = s.txn(ctx, c, "CreateSecurityGroup", func(t *tx) error {
		v, err := t.vpcOrDefault(in.VpcID)
		if err != nil {
			return err
		}
		groups, err := list[groupHead](t, kindGroup)
		if err != nil {
			return err
		}
		if len(groups) >= s.cfg.MaxGroupsPerRegion {
			return model.Errorf(model.CodeGroupLimitExceeded, "The maximum number of security groups for the region has been reached (%d).", s.cfg.MaxGroupsPerRegion)
		}
		for _, g := range groups {
			if g.VPC == v.ID && model.SameGroupName(g.Name, name) {
				return model.Errorf(model.CodeInvalidGroupDuplicate, "The security group '%s' already exists for VPC '%s'", name, v.ID)
			}
		}
		out = &model.SecurityGroup{Scope: c.scope(), ID: model.GroupID(s.newID(model.KindGroup)), VPC: v.ID, Name: name, Description: in.Description, Tags: in.Tags}
		out.Rules = t.defaultEgress(v)
		return t.put(kindGroup, string(out.ID), out)
	})
	return out, err
}

// vpcOrDefault returns the VPC named by id, or the default VPC.
func (t *tx) vpcOrDefault(id string) (*model.VPC, error) {
	if id == "" {
		return t.defaultVPC()
	}
	vid, err := model.ParseVpcID(id)
	if err != nil {
		return nil, err
	}
	return t.vpc(vid)
}

// DeleteSecurityGroup deletes a group that no interface uses and no other
// group references. The default group cannot be deleted.
func (s *Service) DeleteSecurityGroup(ctx context.Context, c Caller, ref GroupRef) (model.GroupID, error) {
	var id model.GroupID
	err := s.txn(ctx, c, "DeleteSecurityGroup", func(t *tx) error {
		g, err := t.resolveGroup(ref)
		if err != nil {
			return err
		}
		id = g.ID
		if g.IsDefault() {
			return model.Errorf(model.CodeCannotDelete, "the specified group: %q name: \"default\" cannot be deleted by a user", g.ID)
		}
		if err := t.checkUnused(g.ID); err != nil {
			return err
		}
		return t.del(kindGroup, string(g.ID))
	})
	return id, err
}

// checkUnused fails with DependencyViolation when an interface uses group
// id or another group's rule references it (a self-reference does not
// count).
func (t *tx) checkUnused(id model.GroupID) error {
	dep := model.Errorf(model.CodeDependencyViolation, "resource %s has a dependent object", id)
	enis, err := listMentioning[eniPlace](t, kindENI, string(id))
	if err != nil {
		return err
	}
	for _, e := range enis {
		if slices.Contains(e.Groups, id) {
			return dep
		}
	}
	groups, err := listMentioning[groupPeers](t, kindGroup, string(id))
	if err != nil {
		return err
	}
	for _, g := range groups {
		if g.ID == id {
			continue
		}
		for _, r := range g.Rules {
			if r.Peer.Kind == model.PeerGroup && r.Peer.Group == id {
				return dep
			}
		}
	}
	return nil
}

// DescribeSecurityGroupsInput is DescribeSecurityGroups' request.
type DescribeSecurityGroupsInput struct {
	IDs     []string
	Names   []string // default VPC only
	Filters []Filter
	Page    Page
}

// DescribeSecurityGroups lists groups by ID, by name (default VPC) and by
// filter. Filters on rules match when any rule of the direction matches
// each one (not necessarily the same rule), as AWS documents.
func (s *Service) DescribeSecurityGroups(ctx context.Context, c Caller, in DescribeSecurityGroupsInput) ([]model.SecurityGroup, string, error) {
	if err := checkFilters(in.Filters, groupFields(&model.SecurityGroup{}, nil)); err != nil {
		return nil, "", err
	}
	var out []model.SecurityGroup
	err := s.read(ctx, c, "DescribeSecurityGroups", func(t *tx) error {
		if len(in.IDs) > 0 && len(in.Names) == 0 && len(in.Filters) == 0 {
			// By ID alone: point reads, whatever the account's size.
			var err error
			out, err = groupsByID(t, in.IDs)
			return err
		}
		all, err := list[model.SecurityGroup](t, kindGroup)
		if err != nil {
			return err
		}
		selected := all
		if len(in.IDs) > 0 || len(in.Names) > 0 {
			selected = nil
			if len(in.IDs) > 0 {
				if selected, err = selectByID(all, in.IDs, model.KindGroup, func(g model.SecurityGroup) string { return string(g.ID) }); err != nil {
					return err
				}
			}
			for _, name := range in.Names {
				g, err := t.groupByName(name)
				if err != nil {
					return err
				}
				selected = appendUnique(selected, *g)
			}
		}
		names := map[model.GroupID]string{}
		for _, g := range all {
			names[g.ID] = g.Name
		}
		out = keep(selected, func(g *model.SecurityGroup) bool { return matchFilters(in.Filters, groupFields(g, names)) })
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return paginate(out, func(g model.SecurityGroup) string { return string(g.ID) }, in.Page)
}

// groupsByID reads the groups ids names, in their order, once each, as
// selectByID selects them from a list: the first malformed or missing ID
// is the error.
func groupsByID(t *tx, ids []string) ([]model.SecurityGroup, error) {
	var out []model.SecurityGroup
	seen := map[string]bool{}
	for _, id := range ids {
		if _, err := model.ParseID(model.KindGroup, id); err != nil {
			return nil, err
		}
		if seen[id] {
			continue
		}
		g, err := t.group(model.GroupID(id))
		if err != nil {
			return nil, err
		}
		out = append(out, *g)
		seen[id] = true
	}
	return out, nil
}

func appendUnique(gs []model.SecurityGroup, g model.SecurityGroup) []model.SecurityGroup {
	for _, x := range gs {
		if x.ID == g.ID {
			return gs
		}
	}
	return append(gs, g)
}

// groupFields answers DescribeSecurityGroups' filters for g; names maps
// group IDs to names for the *.group-name filters.
func groupFields(g *model.SecurityGroup, names map[model.GroupID]string) fieldsFunc {
	return func(name string) ([]string, bool) {
		switch name {
		case "description":
			return []string{g.Description}, true
		case "group-id":
			return []string{string(g.ID)}, true
		case "group-name":
			return []string{g.Name}, true
		case "owner-id":
			return []string{string(g.Account)}, true
		case "vpc-id":
			return []string{string(g.VPC)}, true
		}
		for _, d := range []model.Direction{model.Ingress, model.Egress} {
			prefix := "ip-permission."
			if d == model.Egress {
				prefix = "egress.ip-permission."
			}
			if len(name) > len(prefix) && name[:len(prefix)] == prefix {
				return ruleFieldValues(g.RulesOf(d), name[len(prefix):], names)
			}
		}
		return tagFields(g.Tags, name)
	}
}

// ruleFieldValues collects one rule field over rules.
func ruleFieldValues(rules []model.Rule, field string, names map[model.GroupID]string) ([]string, bool) {
	var out []string
	for _, r := range rules {
		from, to, _ := r.WirePorts()
		switch field {
		case "cidr":
			if r.Peer.Kind == model.PeerCIDR && r.Peer.Prefix.Addr().Is4() {
				out = append(out, r.Peer.Prefix.String())
			}
		case "ipv6-cidr":
			if r.Peer.IsIPv6() {
				out = append(out, r.Peer.Prefix.String())
			}
		case "from-port":
			out = append(out, strconv.Itoa(int(from)))
		case "to-port":
			out = append(out, strconv.Itoa(int(to)))
		case "protocol":
			out = append(out, r.Protocol.String())
		case "group-id":
			if r.Peer.Kind == model.PeerGroup {
				out = append(out, string(r.Peer.Group))
			}
		case "group-name":
			if r.Peer.Kind == model.PeerGroup && names[r.Peer.Group] != "" {
				out = append(out, names[r.Peer.Group])
			}
		case "prefix-list-id":
			if r.Peer.Kind == model.PeerPrefixList {
				out = append(out, string(r.Peer.PrefixList))
			}
		case "user-id":
			if r.Peer.Kind == model.PeerGroup {
				out = append(out, string(r.Peer.GroupOwner))
			}
		default:
			return nil, false
		}
	}
	return out, true
}
