package service

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"sync"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/store"
)

// The default VPC of every account and region (docs/aws-semantics.md#vpcs-and-the-default-vpc).
var (
	defaultVPCCIDR     = netip.MustParsePrefix("172.31.0.0/16")
	defaultSubnetCIDRs = []netip.Prefix{
		netip.MustParsePrefix("172.31.0.0/20"),
		netip.MustParsePrefix("172.31.16.0/20"),
		netip.MustParsePrefix("172.31.32.0/20"),
	}
)

// ensureDefaults creates the caller's default VPC the first time the
// account uses the region, and makes sure the scope's indexes are built
// (ensureIndexes) before its first operation in this process. A deleted
// default VPC stays deleted (until CreateDefaultVpc).
func (s *Service) ensureDefaults(ctx context.Context, c Caller) error {
	key := defaultsRoot + string(c.Account) + "/" + c.Region
	if _, ok := s.ready.Load(key); ok {
		return nil
	}
	mu, _ := s.setup.LoadOrStore(key, new(sync.Mutex))
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()
	if _, ok := s.ready.Load(key); ok {
		return nil
	}
	_, err := s.st.Txn(ctx, func(stx store.Tx) error {
		if _, err := stx.Get(key); err == nil {
			return nil
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		t := &tx{Tx: stx, s: s, c: c}
		if _, err := t.createDefaultVPC(); err != nil {
			return err
		}
		t.setIndex(indexedKey(c), []byte(indexVersion)) // a new scope has nothing to migrate
		if err := t.flushIndexes(); err != nil {
			return err
		}
		return stx.Put(key, []byte(s.now().UTC().Format("2006-01-02T15:04:05Z")))
	})
	if err != nil {
		return fmt.Errorf("create default vpc for %s in %s: %w", c.Account, c.Region, err)
	}
	if err := s.ensureIndexes(ctx, c); err != nil {
		return fmt.Errorf("build indexes for %s in %s: %w", c.Account, c.Region, err)
	}
	s.ready.Store(key, struct{}{})
	return nil
}

// createDefaultVPC stores a default VPC with its three subnets and its
// default security group.
func (t *tx) createDefaultVPC() (*model.VPC, error) {
	v, err := t.newVPC(defaultVPCCIDR, netip.Prefix{}, true, nil)
	if err != nil {
		return nil, err
	}
	for i, cidr := range defaultSubnetCIDRs {
		sn := &model.Subnet{
			Scope: t.c.scope(), ID: model.SubnetID(t.s.newID(model.KindSubnet)), VPC: v.ID,
			Zone: t.c.Region + string(rune('a'+i)), CIDR: cidr, DefaultForAz: true,
		}
		if err := t.putNewSubnet(sn); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// newVPC stores a VPC and its default security group.
func (t *tx) newVPC(cidr, v6 netip.Prefix, isDefault bool, tags model.Tags) (*model.VPC, error) {
	v := &model.VPC{Scope: t.c.scope(), ID: model.VpcID(t.s.newID(model.KindVPC)), CIDR: cidr, IPv6CIDR: v6, IsDefault: isDefault, Tags: tags}
	if err := t.put(kindVPC, string(v.ID), v); err != nil {
		return nil, err
	}
	g := &model.SecurityGroup{
		Scope: t.c.scope(), ID: model.GroupID(t.s.newID(model.KindGroup)), VPC: v.ID,
		Name: model.DefaultGroupName, Description: "default VPC security group",
	}
	g.Rules = append(g.Rules, t.newRule(model.Rule{Direction: model.Ingress, Protocol: model.AllProtocols, Peer: model.GroupPeer(g.ID, t.c.Account)}))
	g.Rules = append(g.Rules, t.defaultEgress(v)...)
	t.setIndex(defaultGroupKey(t.c, v.ID), []byte(g.ID))
	return v, t.put(kindGroup, string(g.ID), g)
}

// defaultEgress is the egress a new group gets: all traffic to 0.0.0.0/0,
// and to ::/0 when the VPC has IPv6.
func (t *tx) defaultEgress(v *model.VPC) []model.Rule {
	out := []model.Rule{t.newRule(model.Rule{Direction: model.Egress, Protocol: model.AllProtocols, Peer: model.CIDRPeer(netip.MustParsePrefix("0.0.0.0/0"))})}
	if v.IPv6CIDR.IsValid() {
		out = append(out, t.newRule(model.Rule{Direction: model.Egress, Protocol: model.AllProtocols, Peer: model.CIDRPeer(netip.MustParsePrefix("::/0"))}))
	}
	return out
}

func (t *tx) newRule(r model.Rule) model.Rule {
	r.ID = model.RuleID(t.s.newID(model.KindRule))
	return r
}

// defaultVPC returns the caller's default VPC, or VPCIdNotSpecified.
func (t *tx) defaultVPC() (*model.VPC, error) {
	vpcs, err := list[model.VPC](t, kindVPC)
	if err != nil {
		return nil, err
	}
	for i := range vpcs {
		if vpcs[i].IsDefault {
			return &vpcs[i], nil
		}
	}
	return nil, model.Errorf(model.CodeVPCIDNotSpecified, "No default VPC for this user")
}

// CreateVpcInput is CreateVpc's request.
type CreateVpcInput struct {
	CIDR string
	IPv6 bool // AmazonProvidedIpv6CidrBlock
	Tags model.Tags
}

// CreateVpc creates a VPC with its default security group.
func (s *Service) CreateVpc(ctx context.Context, c Caller, in CreateVpcInput) (*model.VPC, error) {
	cidr, err := checkBlock(in.CIDR, model.CodeInvalidVpcRange)
	if err != nil {
		return nil, err
	}
	var out *model.VPC
	err = s.txn(ctx, c, "CreateVpc", func(t *tx) error {
		var v6 netip.Prefix
		if in.IPv6 {
			if v6, err = t.allocIPv6Block(); err != nil {
				return err
			}
		}
		out, err = t.newVPC(cidr, v6, false, in.Tags)
		return err
	})
	return out, err
}

// checkBlock validates an IPv4 VPC or subnet block: /16 to /28, canonical.
func checkBlock(s, rangeCode string) (netip.Prefix, error) {
	if s == "" {
		return netip.Prefix{}, model.Errorf(model.CodeMissingParameter, "The request must contain the parameter cidrBlock")
	}
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, model.Errorf(model.CodeInvalidParameterValue, "Value (%s) for parameter cidrBlock is invalid. This is not a valid CIDR block.", s)
	}
	if p.Bits() < 16 || p.Bits() > 28 {
		return netip.Prefix{}, model.Errorf(rangeCode, "The CIDR '%s' is invalid.", s)
	}
	return p.Masked(), nil
}

// allocIPv6Block returns the first /56 of the pool that no VPC of the
// caller uses.
func (t *tx) allocIPv6Block() (netip.Prefix, error) {
	vpcs, err := list[model.VPC](t, kindVPC)
	if err != nil {
		return netip.Prefix{}, err
	}
	used := map[netip.Prefix]bool{}
	for _, v := range vpcs {
		used[v.IPv6CIDR] = true
	}
	p := netip.PrefixFrom(t.s.cfg.IPv6Pool.Masked().Addr(), 56)
	for range 1 << 16 {
		if !used[p] {
			return p, nil
		}
		next := nextPrefix(p)
		if !next.IsValid() || !t.s.cfg.IPv6Pool.Contains(next.Addr()) {
			break
		}
		p = next
	}
	return netip.Prefix{}, model.Errorf(model.CodeInsufficientCidrBlocks, "There are not enough free IPv6 /56 blocks in the pool %s.", t.s.cfg.IPv6Pool)
}

// nextPrefix returns the prefix of the same length right after p.
func nextPrefix(p netip.Prefix) netip.Prefix {
	b := p.Addr().As16()
	bit := p.Bits() - 1
	for i := bit / 8; i >= 0; i-- {
		inc := byte(1)
		if i == bit/8 {
			inc = 1 << (7 - bit%8)
		}
		sum := uint16(b[i]) + uint16(inc)
		b[i] = byte(sum)
		if sum < 256 {
			return netip.PrefixFrom(netip.AddrFrom16(b), p.Bits())
		}
	}
	return netip.Prefix{}
}

// CreateDefaultVpc recreates the caller's default VPC.
func (s *Service) CreateDefaultVpc(ctx context.Context, c Caller) (*model.VPC, error) {
	var out *model.VPC
	err := s.txn(ctx, c, "CreateDefaultVpc", func(t *tx) error {
		if _, err := t.defaultVPC(); err == nil {
			return model.Errorf(model.CodeDefaultVpcAlreadyExists, "A Default VPC already exists for this account in this region.")
		}
		var err error
		out, err = t.createDefaultVPC()
		return err
	})
	return out, err
}

// DescribeVpcs lists the caller's VPCs.
func (s *Service) DescribeVpcs(ctx context.Context, c Caller, ids []string, filters []Filter, p Page) ([]model.VPC, string, error) {
	if err := checkFilters(filters, vpcFields(&model.VPC{})); err != nil {
		return nil, "", err
	}
	var out []model.VPC
	err := s.read(ctx, c, "DescribeVpcs", func(t *tx) error {
		all, err := list[model.VPC](t, kindVPC)
		if err != nil {
			return err
		}
		out, err = selectByID(all, ids, model.KindVPC, func(v model.VPC) string { return string(v.ID) })
		if err != nil {
			return err
		}
		out = keep(out, func(v *model.VPC) bool { return matchFilters(filters, vpcFields(v)) })
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return paginate(out, func(v model.VPC) string { return string(v.ID) }, p)
}

func vpcFields(v *model.VPC) fieldsFunc {
	return func(name string) ([]string, bool) {
		switch name {
		case "vpc-id":
			return []string{string(v.ID)}, true
		// "cidr-block" and "isDefault" are not in AWS's documentation but
		// AWS accepts them, and Ansible and Terraform send them.
		case "cidr", "cidr-block":
			return []string{v.CIDR.String()}, true
		case "cidr-block-association.cidr-block":
			return prefixStrings(v.IPv4Blocks()), true
		case "cidr-block-association.association-id":
			ids := []string{primaryAssociation(v.ID)}
			for _, b := range v.Secondary {
				ids = append(ids, b.AssociationID)
			}
			return ids, true
		case "cidr-block-association.state":
			return []string{"associated"}, true
		case "ipv6-cidr-block-association.ipv6-cidr-block":
			return nonEmpty(prefixString(v.IPv6CIDR)), true
		case "ipv6-cidr-block-association.state":
			return nonEmpty(ifValid(v.IPv6CIDR, "associated")), true
		case "is-default", "isDefault":
			return []string{strconv.FormatBool(v.IsDefault)}, true
		case "dhcp-options-id":
			return []string{"default"}, true
		case "state":
			return []string{"available"}, true
		case "owner-id":
			return []string{string(v.Account)}, true
		}
		return tagFields(v.Tags, name)
	}
}

func prefixStrings(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

func prefixString(p netip.Prefix) string {
	if !p.IsValid() {
		return ""
	}
	return p.String()
}

// ifValid returns s when p is a prefix, "" otherwise.
func ifValid(p netip.Prefix, s string) string {
	if !p.IsValid() {
		return ""
	}
	return s
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// selectByID returns the items named by ids (every one must exist), or all
// items when ids is empty.
func selectByID[T any](all []T, ids []string, k model.Kind, id func(T) string) ([]T, error) {
	if len(ids) == 0 {
		return all, nil
	}
	byID := make(map[string]T, len(all))
	for _, x := range all {
		byID[id(x)] = x
	}
	var out []T
	seen := map[string]bool{}
	for _, want := range ids {
		if _, err := model.ParseID(k, want); err != nil {
			return nil, err
		}
		x, ok := byID[want]
		if !ok {
			return nil, k.NotFound(want)
		}
		if !seen[want] {
			out = append(out, x)
			seen[want] = true
		}
	}
	return out, nil
}

func keep[T any](xs []T, ok func(*T) bool) []T {
	out := xs[:0:0]
	for i := range xs {
		if ok(&xs[i]) {
			out = append(out, xs[i])
		}
	}
	return out
}

// DeleteVpc deletes a VPC that has nothing left in it but its default group.
func (s *Service) DeleteVpc(ctx context.Context, c Caller, id string) error {
	vid, err := model.ParseVpcID(id)
	if err != nil {
		return err
	}
	return s.txn(ctx, c, "DeleteVpc", func(t *tx) error {
		if _, err := t.vpc(vid); err != nil {
			return err
		}
		dep := model.Errorf(model.CodeDependencyViolation, "The vpc '%s' has dependencies and cannot be deleted.", id)
		subnets, err := list[model.Subnet](t, kindSubnet)
		if err != nil {
			return err
		}
		enis, err := listMentioning[eniPlace](t, kindENI, string(vid))
		if err != nil {
			return err
		}
		groups, err := list[groupHead](t, kindGroup)
		if err != nil {
			return err
		}
		for _, sn := range subnets {
			if sn.VPC == vid {
				return dep
			}
		}
		for _, e := range enis {
			if e.VPC == vid {
				return dep
			}
		}
		hosts, err := list[model.LabHost](t, model.KeyLabHost)
		if err != nil {
			return err
		}
		for _, h := range hosts {
			if h.VPC == vid {
				return dep
			}
		}
		var def *groupHead
		for i := range groups {
			if groups[i].VPC != vid {
				continue
			}
			if groups[i].Name != model.DefaultGroupName {
				return dep
			}
			def = &groups[i]
		}
		if def != nil {
			if err := t.del(kindGroup, string(def.ID)); err != nil {
				return err
			}
		}
		t.dropIndex(defaultGroupKey(c, vid))
		return t.del(kindVPC, id)
	})
}
