package ec2api

import (
	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/service"
)

// This file is the one conversion between the wire's IpPermission (as
// requests send it and DescribeSecurityGroups shows it) and the model's
// PermissionSpec and Rule.

// readPermissions reads IpPermissions.N into specs, unvalidated: the model
// validates and canonicalizes them.
//
// Groups.M.VpcId and Groups.M.VpcPeeringConnectionId are read and passed
// on: the service accepts the referenced group's own VPC and refuses a
// peering connection, which Palisade does not have.
func readPermissions(p *Params) ([]model.PermissionSpec, error) {
	elems, err := p.List("IpPermissions")
	if err != nil {
		return nil, err
	}
	out := make([]model.PermissionSpec, 0, len(elems))
	for _, e := range elems {
		spec, err := readPermission(e)
		if err != nil {
			return nil, err
		}
		out = append(out, spec)
	}
	return out, nil
}

func readPermission(e *Params) (model.PermissionSpec, error) {
	spec := model.PermissionSpec{Protocol: e.String("IpProtocol")}
	var err error
	if spec.FromPort, err = e.OptInt32("FromPort"); err != nil {
		return spec, err
	}
	if spec.ToPort, err = e.OptInt32("ToPort"); err != nil {
		return spec, err
	}
	if spec.IPv4, err = readSources(e, "IpRanges", "CidrIp"); err != nil {
		return spec, err
	}
	if spec.IPv6, err = readSources(e, "Ipv6Ranges", "CidrIpv6"); err != nil {
		return spec, err
	}
	if spec.PrefixLists, err = readSources(e, "PrefixListIds", "PrefixListId"); err != nil {
		return spec, err
	}
	groups, err := e.List("Groups")
	if err != nil {
		return spec, err
	}
	for _, g := range groups {
		spec.Groups = append(spec.Groups, model.GroupSourceSpec{
			GroupID: g.String("GroupId"), GroupName: g.String("GroupName"),
			UserID: g.String("UserId"), Description: g.String("Description"),
			VpcID: g.String("VpcId"), PeeringID: g.String("VpcPeeringConnectionId"),
		})
	}
	return spec, nil
}

// readSources reads a list of one-value sources (IpRanges.M.CidrIp, …) with
// their descriptions.
func readSources(e *Params, list, value string) ([]model.SourceSpec, error) {
	elems, err := e.List(list)
	if err != nil {
		return nil, err
	}
	var out []model.SourceSpec
	for _, s := range elems {
		out = append(out, model.SourceSpec{Value: s.String(value), Description: s.String("Description")})
	}
	return out, nil
}

// legacyNames are the top-level parameters of AuthorizeSecurityGroupIngress
// and RevokeSecurityGroupIngress from before IpPermissions existed.
var legacyNames = []string{"CidrIp", "IpProtocol", "FromPort", "ToPort", "SourceSecurityGroupName", "SourceSecurityGroupOwnerId"}

// readIngressPermissions reads IpPermissions.N or, instead, the legacy
// top-level parameters, which make one permission: IpProtocol, FromPort and
// ToPort, with CidrIp as its IPv4 source and SourceSecurityGroupName (owned
// by SourceSecurityGroupOwnerId) as its group source. Both forms at once is
// InvalidParameterCombination.
func readIngressPermissions(p *Params) ([]model.PermissionSpec, error) {
	legacy := false
	for _, n := range legacyNames {
		legacy = legacy || p.Has(n)
	}
	if !legacy {
		return readPermissions(p)
	}
	if p.Has("IpPermissions") {
		return nil, model.Errorf(model.CodeInvalidParameterCombination,
			"The parameter IpPermissions cannot be used with the parameters CidrIp, IpProtocol, FromPort, ToPort, SourceSecurityGroupName or SourceSecurityGroupOwnerId")
	}
	spec := model.PermissionSpec{Protocol: p.String("IpProtocol")}
	var err error
	if spec.FromPort, err = p.OptInt32("FromPort"); err != nil {
		return nil, err
	}
	if spec.ToPort, err = p.OptInt32("ToPort"); err != nil {
		return nil, err
	}
	if cidr, ok := p.OptString("CidrIp"); ok {
		spec.IPv4 = []model.SourceSpec{{Value: cidr}}
	}
	name, hasName := p.OptString("SourceSecurityGroupName")
	owner, hasOwner := p.OptString("SourceSecurityGroupOwnerId")
	if hasName || hasOwner {
		spec.Groups = []model.GroupSourceSpec{{GroupName: name, UserID: owner}}
	}
	return []model.PermissionSpec{spec}, nil
}

// ipPermissionXML is one IpPermission: the rules of one direction that share
// protocol and ports, each rule one entry of a source list.
type ipPermissionXML struct {
	IPProtocol    string               `xml:"ipProtocol"`
	FromPort      *int32               `xml:"fromPort,omitempty"`
	ToPort        *int32               `xml:"toPort,omitempty"`
	Groups        Set[groupPairXML]    `xml:"groups"`
	IPRanges      Set[ipRangeXML]      `xml:"ipRanges"`
	IPv6Ranges    Set[ipv6RangeXML]    `xml:"ipv6Ranges"`
	PrefixListIDs Set[prefixListIDXML] `xml:"prefixListIds"`
}

type groupPairXML struct {
	UserID      string `xml:"userId"`
	GroupID     string `xml:"groupId"`
	Description string `xml:"description,omitempty"`
}

type ipRangeXML struct {
	CidrIP      string `xml:"cidrIp"`
	Description string `xml:"description,omitempty"`
}

type ipv6RangeXML struct {
	CidrIPv6    string `xml:"cidrIpv6"`
	Description string `xml:"description,omitempty"`
}

type prefixListIDXML struct {
	PrefixListID string `xml:"prefixListId"`
	Description  string `xml:"description,omitempty"`
}

// permissionsOf renders rules as IpPermissions, merged by protocol and
// ports (service.MergePermissions). Ports are omitted for protocols without
// them (model.Rule.WirePorts).
func permissionsOf(rules []model.Rule) Set[ipPermissionXML] {
	perms := service.MergePermissions(rules)
	out := make(Set[ipPermissionXML], len(perms))
	for i, perm := range perms {
		x := ipPermissionXML{
			IPProtocol: perm.Key.Protocol.String(),
			Groups:     Set[groupPairXML]{}, IPRanges: Set[ipRangeXML]{},
			IPv6Ranges: Set[ipv6RangeXML]{}, PrefixListIDs: Set[prefixListIDXML]{},
		}
		if from, to, has := perm.Rules[0].WirePorts(); has {
			x.FromPort, x.ToPort = &from, &to
		}
		for _, r := range perm.Rules {
			addSource(&x, r)
		}
		out[i] = x
	}
	return out
}

func addSource(x *ipPermissionXML, r model.Rule) {
	switch p := peerOf(r.Peer); {
	case p.group != "":
		x.Groups = append(x.Groups, groupPairXML{p.owner, p.group, r.Description})
	case p.prefixList != "":
		x.PrefixListIDs = append(x.PrefixListIDs, prefixListIDXML{p.prefixList, r.Description})
	case p.v6 != "":
		x.IPv6Ranges = append(x.IPv6Ranges, ipv6RangeXML{p.v6, r.Description})
	default:
		x.IPRanges = append(x.IPRanges, ipRangeXML{p.v4, r.Description})
	}
}

// peerText is a rule's peer as the wire spells it: exactly one of v4, v6,
// prefixList and group is set (owner with group).
type peerText struct {
	v4, v6, prefixList, group, owner string
}

func peerOf(p model.Peer) peerText {
	switch {
	case p.Kind == model.PeerGroup:
		return peerText{group: string(p.Group), owner: string(p.GroupOwner)}
	case p.Kind == model.PeerPrefixList:
		return peerText{prefixList: string(p.PrefixList)}
	case p.IsIPv6():
		return peerText{v6: p.Prefix.String()}
	}
	return peerText{v4: p.Prefix.String()}
}
