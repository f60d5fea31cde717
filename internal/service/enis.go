package service

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/netip"
	"slices"
	"strconv"
	"unicode/utf8"

	"palisade.dev/palisade/internal/model"
)

// eniRecord is how an interface is stored: model.ENI plus what model.ENI
// does not carry yet. Readers that decode a model.ENI ignore the extra
// fields; every writer of interfaces is in this package and goes through
// the record, and tag edits patch raw JSON, so nothing drops them.
type eniRecord struct {
	model.ENI
	// SourceDestCheckOff is the inverse of SourceDestCheck (default on).
	SourceDestCheckOff bool `json:"sourceDestCheckOff,omitempty"`
	// RequestHash fingerprints the CreateNetworkInterface request that
	// made it, for ClientToken idempotency.
	RequestHash string `json:"requestHash,omitempty"`
}

func (t *tx) eniRec(id model.ENIID) (*eniRecord, error) {
	var v eniRecord
	if ok, err := t.get(kindENI, string(id), &v); err != nil || !ok {
		return nil, orNotFound(err, model.KindENI, string(id))
	}
	return &v, nil
}

func (t *tx) putENI(e *eniRecord) error { return t.put(kindENI, string(e.ID), e) }

// GroupIdentifier is one item of a groupSet: a group's ID and name.
type GroupIdentifier struct {
	ID   model.GroupID
	Name string
}

// NetworkInterface is an interface as the API shows it.
type NetworkInterface struct {
	model.ENI
	SourceDestCheck bool
	GroupSet        []GroupIdentifier // Groups with their names, in order
	PrivateDNSName  string
}

// Status is "in-use" for an attached interface, else "available".
func (n *NetworkInterface) Status() string { return eniStatus(&n.ENI) }

func eniStatus(e *model.ENI) string {
	if e.Attachment != nil {
		return "in-use"
	}
	return "available"
}

// groupHead is what the interface paths need of a group: not its rules,
// which can be thousands and cost most of decoding it.
type groupHead struct {
	ID   model.GroupID `json:"id"`
	VPC  model.VpcID   `json:"vpc"`
	Name string        `json:"name"`
}

// groupHead reads a group's head. A group's VPC and name never change, so
// a transaction reads each head once.
func (t *tx) groupHead(id model.GroupID) (*groupHead, error) {
	if g := t.heads[id]; g != nil {
		return g, nil
	}
	var g groupHead
	if ok, err := t.get(kindGroup, string(id), &g); err != nil || !ok {
		return nil, orNotFound(err, model.KindGroup, string(id))
	}
	if t.heads == nil {
		t.heads = map[model.GroupID]*groupHead{}
	}
	t.heads[id] = &g
	return &g, nil
}

// groupNames maps group IDs to names, reading only those groups' heads: a
// write path shows the groups of one interface or instance. A group that
// does not exist has no name, as with allGroupNames.
func (t *tx) groupNames(ids []model.GroupID) (map[model.GroupID]string, error) {
	out := make(map[model.GroupID]string, len(ids))
	for _, id := range ids {
		g, err := t.groupHead(id)
		switch {
		case err == nil:
			out[id] = g.Name
		case model.CodeOf(err) != model.CodeInvalidGroupNotFound:
			return nil, err
		}
	}
	return out, nil
}

// allGroupNames maps every group ID of the caller to its name, for the
// read paths that show every interface or instance anyway.
func (t *tx) allGroupNames() (map[model.GroupID]string, error) {
	groups, err := list[groupHead](t, kindGroup)
	if err != nil {
		return nil, err
	}
	out := make(map[model.GroupID]string, len(groups))
	for _, g := range groups {
		out[g.ID] = g.Name
	}
	return out, nil
}

// groupsOf returns the groups of interfaces, each once.
func groupsOf(enis ...*eniRecord) []model.GroupID {
	var out []model.GroupID
	for _, e := range enis {
		for _, g := range e.Groups {
			if !slices.Contains(out, g) {
				out = append(out, g)
			}
		}
	}
	return out
}

func groupSet(ids []model.GroupID, names map[model.GroupID]string) []GroupIdentifier {
	out := make([]GroupIdentifier, len(ids))
	for i, id := range ids {
		out[i] = GroupIdentifier{id, names[id]}
	}
	return out
}

func (e *eniRecord) view(names map[model.GroupID]string) NetworkInterface {
	n := NetworkInterface{ENI: e.ENI, SourceDestCheck: !e.SourceDestCheckOff, GroupSet: groupSet(e.Groups, names)}
	if len(e.PrivateIPs) > 0 {
		n.PrivateDNSName = privateDNSName(e.Region, e.PrivateIPs[0])
	}
	return n
}

// groupCheck says how an operation reports bad interface groups: AWS's codes
// differ by API (docs/aws-semantics.md#quotas).
type groupCheck uint8

const (
	groupsLaunch groupCheck = iota + 1 // RunInstances
	groupsCreate                       // CreateNetworkInterface
	groupsModify                       // ModifyNetworkInterfaceAttribute, ModifyInstanceAttribute
)

// interfaceGroups resolves the groups an interface of subnet sn gets: the
// given IDs (duplicates dropped), or the VPC's default group when none are
// given (launch and create; modify requires at least one). Every group must
// exist in the subnet's VPC, and there may be at most
// cfg.MaxGroupsPerInterface.
func (t *tx) interfaceGroups(sn *model.Subnet, ids []string, how groupCheck) ([]model.GroupID, error) {
	if len(ids) == 0 {
		if how == groupsModify {
			return nil, model.Errorf(model.CodeMissingParameter, "The request must contain the parameter groupId")
		}
		g, err := t.defaultGroup(sn.VPC)
		if err != nil {
			return nil, err
		}
		return []model.GroupID{g}, nil
	}
	var out []model.GroupID
	for _, s := range ids {
		id, err := model.ParseGroupID(s)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	if limit := t.s.cfg.MaxGroupsPerInterface; len(out) > limit {
		return nil, groupLimitError(how, t.c.Account, limit)
	}
	for _, id := range out {
		g, err := t.groupHead(id)
		if model.CodeOf(err) == model.CodeInvalidGroupNotFound && how != groupsModify {
			return nil, model.Errorf(model.CodeInvalidGroupNotFound, "The security group '%s' does not exist in VPC '%s'", id, sn.VPC)
		}
		if err != nil {
			return nil, err
		}
		if g.VPC != sn.VPC {
			if how == groupsModify {
				return nil, model.Errorf(model.CodeInvalidGroupNotFound, "You have specified two resources that belong to different networks.")
			}
			return nil, model.Errorf(model.CodeInvalidParameter, "Security group %s and subnet %s belong to different networks.", id, sn.ID)
		}
	}
	return out, nil
}

// groupLimitError is the per-interface group limit error of each API:
// CreateNetworkInterface's is observed (2025); the modify paths' is
// observed; RunInstances' is observed in 2013 (aws-sdk-ruby) and kept since
// nothing newer is on record.
func groupLimitError(how groupCheck, acct model.AccountID, limit int) error {
	switch how {
	case groupsCreate:
		return model.Errorf(model.CodeInvalidParameterValue, "user %s exceeded limit %d on the number of interface security group memberships", acct, limit)
	case groupsLaunch:
		return model.Errorf(model.CodeGroupLimitExceeded, "You have exceeded the number of VPC security groups allowed per instance.")
	}
	return model.Errorf(model.CodeGroupsPerInterfaceLimitExceeded, "The maximum number of security groups per interface has been reached.")
}

// eniSpec is a validated request for one new interface.
type eniSpec struct {
	subnet      *model.Subnet
	groups      []model.GroupID
	privateIP   netip.Addr // zero: the lowest free address
	ipv6Count   int32
	description string
	conntrack   model.ConntrackTimeouts
	tags        model.Tags
	secondary   []netip.Addr // given secondary addresses
	secondaryN  int32        // secondary addresses to take
	ipv6Given   []netip.Addr // Ipv6Addresses.N (ipv6Count is then 0)
}

// newENI builds (but does not store) an interface, taking its addresses
// from pools.
func (t *tx) newENI(pools *addrPools, sp eniSpec) (*eniRecord, error) {
	pool, err := pools.of(sp.subnet)
	if err != nil {
		return nil, err
	}
	v4s, err := takeIPv4s(pool, sp)
	if err != nil {
		return nil, err
	}
	if sp.subnet.AssignIPv6OnCreation && sp.ipv6Count == 0 && len(sp.ipv6Given) == 0 {
		sp.ipv6Count = 1
	}
	v6, err := takeIPv6(pool, sp.ipv6Given, sp.ipv6Count)
	if err != nil {
		return nil, err
	}
	id := model.ENIID(t.s.newID(model.KindENI))
	return &eniRecord{ENI: model.ENI{
		Scope: t.c.scope(), ID: id, VPC: sp.subnet.VPC, Subnet: sp.subnet.ID, Zone: sp.subnet.Zone,
		Description: sp.description, MAC: macFor(id), PrivateIPs: v4s, IPv6s: v6,
		Groups: sp.groups, Conntrack: sp.conntrack, Tags: sp.tags,
	}}, nil
}

// takeIPv4s takes a new interface's private IPv4 addresses, primary first:
// none in an IPv6-only subnet, where asking for one is an error.
func takeIPv4s(pool *addrPool, sp eniSpec) ([]netip.Addr, error) {
	if sp.subnet.IPv6Native {
		if sp.privateIP.IsValid() || len(sp.secondary) > 0 || sp.secondaryN > 0 {
			return nil, ipv6OnlyError(sp.subnet.ID)
		}
		return nil, nil
	}
	var v4 netip.Addr
	var err error
	if sp.privateIP.IsValid() {
		v4 = sp.privateIP
		err = pool.claim(v4)
	} else {
		v4, err = pool.take4()
	}
	if err != nil {
		return nil, err
	}
	more, err := takeSecondary(pool, sp.secondary, sp.secondaryN)
	return append([]netip.Addr{v4}, more...), err
}

// ipv6OnlyError refuses a private IPv4 address in an IPv6-only subnet.
func ipv6OnlyError(sid model.SubnetID) error {
	return model.Errorf(model.CodeInvalidParameterValue, "The subnet %s is IPv6-only (ipv6Native): its interfaces have no private IPv4 address.", sid)
}

// CreateNetworkInterfaceInput is CreateNetworkInterface's request.
type CreateNetworkInterfaceInput struct {
	SubnetID          string
	GroupIDs          []string // SecurityGroupId.N; none: the VPC's default group
	PrivateIP         string   // PrivateIpAddress; "": the lowest free address
	Secondary         SecondaryIPs
	IPv6Addresses     []string // Ipv6Addresses.N
	IPv6AddressCount  int32
	Description       string
	Conntrack         model.ConntrackTimeouts // ConnectionTrackingSpecification
	TagSpecifications []TagSpecification
	ClientToken       string
}

// CreateNetworkInterface creates an unattached interface in a subnet.
//
// With a ClientToken, a retry returns the interface the first request made
// (while it exists); the same token with other parameters is
// IdempotentParameterMismatch.
func (s *Service) CreateNetworkInterface(ctx context.Context, c Caller, in CreateNetworkInterfaceInput) (*NetworkInterface, error) {
	if in.SubnetID == "" {
		return nil, model.Errorf(model.CodeMissingParameter, "The request must contain the parameter subnetId")
	}
	sid, err := model.ParseSubnetID(in.SubnetID)
	if err != nil {
		return nil, err
	}
	ip, err := parsePrivateIP(in.PrivateIP)
	if err != nil {
		return nil, err
	}
	ip, secondary, err := in.Secondary.resolve(ip)
	if err != nil {
		return nil, err
	}
	v6, err := parseIPv6s(in.IPv6Addresses, in.IPv6AddressCount)
	if err != nil {
		return nil, err
	}
	if err := firstError(checkIPv6Count(in.IPv6AddressCount), model.CheckConntrackTimeouts(in.Conntrack),
		checkENIDescription(in.Description), checkClientToken(in.ClientToken)); err != nil {
		return nil, err
	}
	tags, err := SpecTags(in.TagSpecifications, ResourceTypeNetworkInterface)
	if err != nil {
		return nil, err
	}
	hash := requestHash(in)
	var out NetworkInterface
	err = s.txn(ctx, c, "CreateNetworkInterface", func(t *tx) error {
		prev, err := t.eniByToken(in.ClientToken)
		if err != nil {
			return err
		}
		if prev != nil {
			if prev.RequestHash != hash {
				return idempotentMismatch()
			}
			names, err := t.groupNames(prev.Groups)
			out = prev.view(names)
			return err
		}
		sn, err := t.subnet(sid)
		if err != nil {
			return err
		}
		groups, err := t.interfaceGroups(sn, in.GroupIDs, groupsCreate)
		if err != nil {
			return err
		}
		e, err := t.newENI(t.pools(), eniSpec{sn, groups, ip, in.IPv6AddressCount, in.Description, in.Conntrack, tags[ResourceTypeNetworkInterface], secondary, in.Secondary.Count, v6})
		if err != nil {
			return err
		}
		e.ClientToken, e.RequestHash = in.ClientToken, hash
		names, err := t.groupNames(e.Groups)
		if err != nil {
			return err
		}
		out = e.view(names)
		if in.ClientToken != "" {
			t.setIndex(eniTokenKey(c, in.ClientToken), []byte(e.ID))
		}
		return t.putENI(e)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func checkENIDescription(s string) error {
	if err := model.CheckText("description", s); err != nil {
		return err
	}
	if utf8.RuneCountInString(s) > model.MaxTextLen {
		return model.Errorf(model.CodeInvalidParameterValue, "Value for parameter description is invalid. Length exceeds maximum of %d.", model.MaxTextLen)
	}
	return nil
}

// checkClientToken validates a ClientToken: at most 64 ASCII characters.
func checkClientToken(s string) error {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return model.Errorf(model.CodeInvalidParameterValue, "Value for parameter clientToken is invalid. It must be printable ASCII.")
		}
	}
	if len(s) > 64 {
		return model.Errorf(model.CodeInvalidParameterValue, "Value (%s) for parameter clientToken is invalid. Length exceeds maximum of 64.", s)
	}
	return nil
}

// requestHash fingerprints a request (its ClientToken included, which is
// harmless: records are found by token first).
func requestHash(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // request structs always encode
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

func idempotentMismatch() error {
	return model.Errorf(model.CodeIdempotentParameterMismatch, "Arguments on this idempotent request are inconsistent with arguments used in previous request(s).")
}

// DeleteNetworkInterface deletes an unattached interface. An attached one
// is InvalidParameterValue "Network interface 'eni-…' is currently in
// use." (observed: AWS uses InvalidNetworkInterface.InUse only when an
// in-use interface is given to RunInstances).
func (s *Service) DeleteNetworkInterface(ctx context.Context, c Caller, id string) error {
	eid, err := model.ParseENIID(id)
	if err != nil {
		return err
	}
	return s.txn(ctx, c, "DeleteNetworkInterface", func(t *tx) error {
		e, err := t.eniRec(eid)
		if err != nil {
			return err
		}
		if e.Attachment != nil {
			return model.Errorf(model.CodeInvalidParameterValue, "Network interface '%s' is currently in use.", id)
		}
		return t.deleteENI(e)
	})
}

// deleteENI deletes an interface and what the indexes hold for it: its
// addresses, free again, and its ClientToken.
func (t *tx) deleteENI(e *eniRecord) error {
	if err := t.del(kindENI, string(e.ID)); err != nil {
		return err
	}
	if e.ClientToken != "" {
		key := eniTokenKey(t.c, e.ClientToken)
		v, ok, err := t.getIndex(key)
		if err != nil {
			return err
		}
		if ok && string(v) == string(e.ID) {
			t.dropIndex(key)
		}
	}
	sn, err := t.subnet(e.Subnet)
	if err != nil {
		return err
	}
	pool, err := t.pools().of(sn)
	if err != nil {
		return err
	}
	for _, a := range e.Addrs() {
		if err := pool.release(a); err != nil {
			return err
		}
	}
	return nil
}

// maxDeviceIndex bounds device indexes, and so interfaces per instance.
// AWS's bound depends on the instance type (2 to 15 interfaces on common
// types); Palisade has no per-type table.
const maxDeviceIndex = 15

// AttachNetworkInterfaceInput is AttachNetworkInterface's request.
type AttachNetworkInterfaceInput struct {
	NetworkInterfaceID string
	InstanceID         string
	DeviceIndex        *int32
}

// AttachNetworkInterface attaches an available interface to a running or
// stopped instance of the same VPC and availability zone, at a free device
// index, and returns the attachment ID. Attached this way, an interface is
// not deleted when the instance terminates.
//
// Decided: AWS now allows attaching an interface of another VPC in the same
// zone (multi-VPC ENI attachments); Palisade requires the instance's VPC, as
// its lab wires one VPC per instance.
func (s *Service) AttachNetworkInterface(ctx context.Context, c Caller, in AttachNetworkInterfaceInput) (model.AttachmentID, error) {
	eid, err := model.ParseENIID(in.NetworkInterfaceID)
	if err != nil {
		return "", err
	}
	iid, err := model.ParseInstanceID(in.InstanceID)
	if err != nil {
		return "", err
	}
	if in.DeviceIndex == nil {
		return "", model.Errorf(model.CodeMissingParameter, "The request must contain the parameter deviceIndex")
	}
	idx := *in.DeviceIndex
	if idx < 0 || idx > maxDeviceIndex {
		return "", model.Errorf(model.CodeInvalidParameterValue, "Value (%d) for parameter deviceIndex is invalid. It must be between 0 and %d.", idx, maxDeviceIndex)
	}
	var out model.AttachmentID
	err = s.txn(ctx, c, "AttachNetworkInterface", func(t *tx) error {
		e, err := t.eniRec(eid)
		if err != nil {
			return err
		}
		inst, err := t.liveInstance(iid)
		if err != nil {
			return err
		}
		if inst.State != model.StateRunning && inst.State != model.StateStopped {
			return model.Errorf(model.CodeIncorrectState, "The instance '%s' is not in a state from which an interface can be attached (%s).", iid, inst.State)
		}
		if e.Attachment != nil {
			return interfaceInUse(eid)
		}
		if e.VPC != inst.VPC || e.Zone != inst.Zone {
			return model.Errorf(model.CodeInvalidParameterValue, "The network interface '%s' and the instance '%s' must be in the same VPC and availability zone.", eid, iid)
		}
		devs, err := t.deviceIndexes(inst)
		if err != nil {
			return err
		}
		if _, taken := devs[int(idx)]; taken {
			return model.Errorf(model.CodeInvalidParameterValue, "Instance '%s' already has an interface attached at device index '%d'.", iid, idx)
		}
		out = model.AttachmentID(s.newID(model.KindAttachment))
		e.Attachment = &model.Attachment{ID: out, Instance: iid, DeviceIndex: int(idx), AttachTime: s.now().UTC()}
		devs[int(idx)] = eid
		inst.ENIs = byDevice(devs)
		if err := t.putENI(e); err != nil {
			return err
		}
		return t.putInstance(inst)
	})
	return out, err
}

func interfaceInUse(id model.ENIID) error {
	return model.Errorf(model.CodeInvalidNetworkInterfaceInUse, "Interface: [%s] in use.", id)
}

// deviceIndexes maps the device indexes of an instance's interfaces to them.
func (t *tx) deviceIndexes(inst *instanceRecord) (map[int]model.ENIID, error) {
	out := map[int]model.ENIID{}
	for _, id := range inst.ENIs {
		e, err := t.eniRec(id)
		if err != nil {
			return nil, err
		}
		if e.Attachment != nil {
			out[e.Attachment.DeviceIndex] = id
		}
	}
	return out, nil
}

// byDevice lists interfaces in device index order (model.Instance.ENIs).
func byDevice(devs map[int]model.ENIID) []model.ENIID {
	idx := make([]int, 0, len(devs))
	for i := range devs {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	out := make([]model.ENIID, len(idx))
	for i, d := range idx {
		out[i] = devs[d]
	}
	return out
}

// DetachNetworkInterface detaches an interface by its attachment ID. The
// primary interface (device index 0) cannot be detached. Force changes
// nothing: detaching is immediate.
func (s *Service) DetachNetworkInterface(ctx context.Context, c Caller, attachmentID string) error {
	if attachmentID == "" {
		return model.Errorf(model.CodeMissingParameter, "The request must contain the parameter attachmentId")
	}
	if _, err := model.ParseID(model.KindAttachment, attachmentID); err != nil {
		return err
	}
	return s.txn(ctx, c, "DetachNetworkInterface", func(t *tx) error {
		enis, err := listMentioning[eniPlace](t, kindENI, attachmentID)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(enis, func(e eniPlace) bool {
			return e.Attachment != nil && string(e.Attachment.ID) == attachmentID
		})
		if i < 0 {
			return model.KindAttachment.NotFound(attachmentID)
		}
		e, err := t.eniRec(enis[i].ID)
		if err != nil {
			return err
		}
		if e.Attachment.DeviceIndex == 0 {
			return model.Errorf(model.CodeOperationNotPermitted, "The network interface at device index 0 and networkCard index 0 cannot be detached.")
		}
		inst, err := t.instanceRec(e.Attachment.Instance)
		if err != nil {
			return err
		}
		inst.ENIs = slices.DeleteFunc(inst.ENIs, func(x model.ENIID) bool { return x == e.ID })
		e.Attachment = nil
		if err := t.putENI(e); err != nil {
			return err
		}
		return t.putInstance(inst)
	})
}

// DescribeNetworkInterfacesInput is DescribeNetworkInterfaces' request.
type DescribeNetworkInterfacesInput struct {
	IDs     []string
	Filters []Filter
	Page    Page
}

// DescribeNetworkInterfaces lists interfaces by ID and filter. As on AWS,
// IDs and MaxResults cannot be combined.
func (s *Service) DescribeNetworkInterfaces(ctx context.Context, c Caller, in DescribeNetworkInterfacesInput) ([]NetworkInterface, string, error) {
	if err := checkFilters(in.Filters, eniFields(&NetworkInterface{})); err != nil {
		return nil, "", err
	}
	if len(in.IDs) > 0 && in.Page.MaxResults != 0 {
		return nil, "", model.Errorf(model.CodeInvalidParameterCombination, "The parameter networkInterfaceIdSet cannot be used with the parameter maxResults")
	}
	var out []NetworkInterface
	err := s.read(ctx, c, "DescribeNetworkInterfaces", func(t *tx) error {
		names, err := t.allGroupNames()
		if err != nil {
			return err
		}
		enis, err := list[eniRecord](t, kindENI)
		if err != nil {
			return err
		}
		all := make([]NetworkInterface, len(enis))
		for i := range enis {
			all[i] = enis[i].view(names)
		}
		if out, err = selectByID(all, in.IDs, model.KindENI, func(n NetworkInterface) string { return string(n.ID) }); err != nil {
			return err
		}
		out = keep(out, func(n *NetworkInterface) bool { return matchFilters(in.Filters, eniFields(n)) })
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return paginate(out, func(n NetworkInterface) string { return string(n.ID) }, in.Page)
}

// eniFields answers DescribeNetworkInterfaces' filters.
func eniFields(n *NetworkInterface) fieldsFunc {
	return func(name string) ([]string, bool) {
		a := n.Attachment
		switch name {
		case "network-interface-id":
			return []string{string(n.ID)}, true
		case "subnet-id":
			return []string{string(n.Subnet)}, true
		case "vpc-id":
			return []string{string(n.VPC)}, true
		case "availability-zone":
			return []string{n.Zone}, true
		case "description":
			return []string{n.Description}, true
		case "owner-id":
			return []string{string(n.Account)}, true
		case "status":
			return []string{n.Status()}, true
		case "mac-address":
			return []string{n.MAC}, true
		case "source-dest-check":
			return []string{strconv.FormatBool(n.SourceDestCheck)}, true
		case "requester-managed":
			return []string{"false"}, true
		case "interface-type":
			return []string{"interface"}, true
		case "private-dns-name":
			return nonEmpty(n.PrivateDNSName), true
		case "group-id":
			return mapStrings(n.GroupSet, func(g GroupIdentifier) string { return string(g.ID) }), true
		case "group-name":
			return mapStrings(n.GroupSet, func(g GroupIdentifier) string { return g.Name }), true
		case "private-ip-address", "addresses.private-ip-address":
			return mapStrings(n.PrivateIPs, netip.Addr.String), true
		case "addresses.primary":
			if len(n.PrivateIPs) > 1 {
				return []string{"true", "false"}, true
			}
			return []string{"true"}, true
		case "ipv6-addresses.ipv6-address":
			return mapStrings(n.IPv6s, netip.Addr.String), true
		case "attachment.instance-id", "attachment.attachment-id", "attachment.device-index",
			"attachment.status", "attachment.delete-on-termination", "attachment.instance-owner-id":
			if a == nil {
				return nil, true
			}
			return []string{attachmentField(n, name)}, true
		}
		return tagFields(n.Tags, name)
	}
}

func attachmentField(n *NetworkInterface, name string) string {
	a := n.Attachment
	switch name {
	case "attachment.instance-id":
		return string(a.Instance)
	case "attachment.attachment-id":
		return string(a.ID)
	case "attachment.device-index":
		return strconv.Itoa(a.DeviceIndex)
	case "attachment.status":
		return "attached"
	case "attachment.delete-on-termination":
		return strconv.FormatBool(a.DeleteOnTermination)
	}
	return string(n.Account)
}

func mapStrings[T any](xs []T, f func(T) string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	return out
}
