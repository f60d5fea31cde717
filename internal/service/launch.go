package service

import (
	"context"
	"slices"
	"strings"
	"time"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/store"
)

// Launch limits, decided. One RunInstances is one store transaction of at
// most store.MaxTxnWrites keys, and each instance writes itself and its
// interfaces: so at most maxLaunchPerCall instances per call (fewer with
// several interfaces each). Asking for more than fit in MinCount is
// InstanceLimitExceeded; between MinCount and MaxCount Palisade launches as
// many as fit, as AWS does when capacity is short. maxInstancesPerRegion
// caps the non-terminated instances of an account in a region (reported as
// the max-instances account attribute).
const (
	maxLaunchPerCall      = 50
	maxInstancesPerRegion = 1000
	defaultInstanceType   = "t3.micro"
)

// InterfaceSpec is one NetworkInterface.N of RunInstances: a new interface,
// or an existing one (NetworkInterfaceID) to attach.
type InterfaceSpec struct {
	DeviceIndex         *int32
	NetworkInterfaceID  string
	SubnetID            string // new; "": the default subnet for device 0, else device 0's subnet
	GroupIDs            []string
	PrivateIP           string
	IPv6AddressCount    int32
	Description         string
	DeleteOnTermination *bool // default: true for a new interface, false for an existing one
	Conntrack           model.ConntrackTimeouts
	// AssociatePublicIP is AssociatePublicIpAddress: Palisade has no public
	// IPv4 addresses, so only false (which the aws CLI sends for
	// --no-associate-public-ip-address) is accepted.
	AssociatePublicIP *bool
	Secondary         SecondaryIPs // PrivateIpAddresses.N, SecondaryPrivateIpAddressCount
	IPv6Addresses     []string     // Ipv6Addresses.N
}

// RunInstancesInput is RunInstances' request.
type RunInstancesInput struct {
	ImageID           string
	InstanceType      string // "": t3.micro
	MinCount          *int32
	MaxCount          *int32
	SubnetID          string   // "": the default subnet of Zone (or of <region>a) in the default VPC
	Zone              string   // Placement.AvailabilityZone
	ZoneID            string   // Placement.AvailabilityZoneId, instead of Zone
	HostID            string   // Placement.HostId: the host to run on (hosts.go)
	GroupIDs          []string // SecurityGroupId.N
	GroupNames        []string // SecurityGroup.N: names in the default VPC
	PrivateIP         string
	IPv6Addresses     []string // Ipv6Address.N
	IPv6AddressCount  int32
	Interfaces        []InterfaceSpec // NetworkInterface.N
	TagSpecifications []TagSpecification
	ClientToken       string
	Options           LaunchOptions
}

// RunInstances launches between MinCount and MaxCount instances (as many as
// fit, see maxLaunchPerCall), each with a primary interface at device 0
// that is deleted on termination, an address from its subnet and the given
// groups (or the VPC's default group). Returned instances are "pending".
//
// With a ClientToken, a retry returns the first request's reservation; the
// same token with other parameters is IdempotentParameterMismatch.
func (s *Service) RunInstances(ctx context.Context, c Caller, in RunInstancesInput) (*Reservation, error) {
	lo, hi, err := checkRun(c, &in)
	if err != nil {
		return nil, err
	}
	tags, err := SpecTags(in.TagSpecifications, ResourceTypeInstance, ResourceTypeNetworkInterface, ResourceTypeVolume)
	if err != nil {
		return nil, err
	}
	hash := requestHash(in)
	var out *Reservation
	err = s.txn(ctx, c, "RunInstances", func(t *tx) error {
		prev, err := t.reservationByToken(in.ClientToken, hash)
		if err != nil || prev != nil {
			out = prev
			return err
		}
		l := &launch{t: t, in: &in, min: lo, max: hi, tags: tags, hash: hash, pools: t.pools()}
		out, err = l.run()
		return err
	})
	return out, err
}

// checkRun validates what RunInstances can check without the store, and
// returns MinCount and MaxCount. It fills the defaults into in.
func checkRun(c Caller, in *RunInstancesInput) (int, int, error) {
	switch {
	case in.ImageID == "":
		return 0, 0, model.Errorf(model.CodeMissingParameter, "The request must contain the parameter ImageId")
	case in.MinCount == nil:
		return 0, 0, model.Errorf(model.CodeMissingParameter, "The request must contain the parameter MinCount")
	case in.MaxCount == nil:
		return 0, 0, model.Errorf(model.CodeMissingParameter, "The request must contain the parameter MaxCount")
	}
	lo, hi := int(*in.MinCount), int(*in.MaxCount)
	switch {
	case lo < 1:
		return 0, 0, model.Errorf(model.CodeInvalidParameterValue, "Value (%d) for parameter minCount is invalid. Expected a positive integer.", lo)
	case hi < 1:
		return 0, 0, model.Errorf(model.CodeInvalidParameterValue, "Value (%d) for parameter maxCount is invalid. Expected a positive integer.", hi)
	case lo > hi:
		return 0, 0, model.Errorf(model.CodeInvalidParameterValue, "MinCount (%d) must be less than or equal to MaxCount (%d).", lo, hi)
	case lo > maxLaunchPerCall:
		return 0, 0, instanceLimit(lo, maxLaunchPerCall)
	}
	if in.InstanceType == "" {
		in.InstanceType = defaultInstanceType
	}
	if !validInstanceType(in.InstanceType) {
		return 0, 0, model.Errorf(model.CodeInvalidParameterValue, "Invalid value '%s' for InstanceType.", in.InstanceType)
	}
	zone, err := zoneOf(c.Region, in.Zone, in.ZoneID)
	if err != nil {
		return 0, 0, err
	}
	in.Zone, in.ZoneID = zone, ""
	if in.Zone != "" && !validZone(c.Region, in.Zone) {
		return 0, 0, model.Errorf(model.CodeInvalidParameterValue, "Invalid availability zone: [%s]", in.Zone)
	}
	if err := checkClientToken(in.ClientToken); err != nil {
		return 0, 0, err
	}
	if in.HostID != "" {
		if _, err := model.ParseHostID(in.HostID); err != nil {
			return 0, 0, err
		}
	}
	if err := in.Options.check(); err != nil {
		return 0, 0, err
	}
	if err := checkTopLevel(in); err != nil {
		return 0, 0, err
	}
	in.Interfaces = slices.Clone(in.Interfaces) // sorted below: not the caller's array
	return lo, hi, checkInterfaceSpecs(in.Interfaces, hi)
}

// checkTopLevel checks the instance-level network parameters and, when no
// NetworkInterface.N is given, turns them into the primary interface's.
func checkTopLevel(in *RunInstancesInput) error {
	bad := func(what string) error {
		return model.Errorf(model.CodeInvalidParameterCombination, "Network interfaces and an instance-level %s may not be specified on the same request", what)
	}
	if len(in.Interfaces) > 0 {
		switch {
		case in.SubnetID != "":
			return bad("subnet ID")
		case len(in.GroupIDs)+len(in.GroupNames) > 0:
			return bad("security groups")
		case in.PrivateIP != "":
			return bad("private IP address")
		case in.IPv6AddressCount != 0:
			return bad("IPv6 address count")
		case len(in.IPv6Addresses) > 0:
			return bad("IPv6 addresses")
		}
		return nil
	}
	if len(in.GroupNames) > 0 && in.SubnetID != "" {
		return model.Errorf(model.CodeInvalidParameterCombination, "The parameter groupName cannot be used with the parameter subnet")
	}
	zero := int32(0)
	in.Interfaces = []InterfaceSpec{{DeviceIndex: &zero, SubnetID: in.SubnetID, GroupIDs: in.GroupIDs, PrivateIP: in.PrivateIP,
		IPv6Addresses: in.IPv6Addresses, IPv6AddressCount: in.IPv6AddressCount}}
	return nil
}

// checkInterfaceSpecs validates NetworkInterface.N and sorts the specs by
// device index.
func checkInterfaceSpecs(specs []InterfaceSpec, count int) error {
	seen, attached := map[int32]bool{}, map[string]bool{}
	for _, sp := range specs {
		if sp.DeviceIndex == nil {
			return model.Errorf(model.CodeInvalidParameterValue, "Each network interface requires a device index.")
		}
		idx := *sp.DeviceIndex
		if idx < 0 || idx > maxDeviceIndex {
			return model.Errorf(model.CodeInvalidParameterValue, "Value (%d) for parameter deviceIndex is invalid. It must be between 0 and %d.", idx, maxDeviceIndex)
		}
		if seen[idx] {
			return model.Errorf(model.CodeInvalidParameterValue, "Each network interface requires a unique device index: %d is given twice.", idx)
		}
		seen[idx] = true
		if attached[sp.NetworkInterfaceID] {
			return model.Errorf(model.CodeInvalidParameterValue, "The network interface %s is given twice.", sp.NetworkInterfaceID)
		}
		if sp.NetworkInterfaceID != "" {
			attached[sp.NetworkInterfaceID] = true
		}
		if err := checkInterfaceSpec(sp, count); err != nil {
			return err
		}
	}
	if !seen[0] {
		return model.Errorf(model.CodeInvalidParameterValue, "When specifying network interfaces, you must include a device at index 0.")
	}
	slices.SortFunc(specs, func(a, b InterfaceSpec) int { return int(*a.DeviceIndex - *b.DeviceIndex) })
	return nil
}

// checkInterfaceSpec validates one interface of an instance; count is
// MaxCount.
func checkInterfaceSpec(sp InterfaceSpec, count int) error {
	if sp.AssociatePublicIP != nil && *sp.AssociatePublicIP {
		return model.Errorf(model.CodeInvalidParameterValue, "Palisade assigns no public IPv4 addresses: AssociatePublicIpAddress can only be false.")
	}
	if sp.NetworkInterfaceID != "" {
		if _, err := model.ParseENIID(sp.NetworkInterfaceID); err != nil {
			return err
		}
		switch {
		case sp.SubnetID != "" || len(sp.GroupIDs) > 0 || sp.PrivateIP != "" || sp.IPv6AddressCount != 0 || sp.Description != "" || sp.Conntrack != (model.ConntrackTimeouts{}) ||
			len(sp.Secondary.Specs) > 0 || sp.Secondary.Count != 0 || len(sp.IPv6Addresses) > 0:
			return model.Errorf(model.CodeInvalidParameterCombination, "An existing network interface (%s) cannot be given the parameters of a new one.", sp.NetworkInterfaceID)
		case count > 1:
			return model.Errorf(model.CodeInvalidParameterCombination, "An existing network interface can be attached only when launching a single instance.")
		case sp.DeleteOnTermination != nil && *sp.DeleteOnTermination:
			return model.Errorf(model.CodeInvalidParameterCombination, "DeleteOnTermination can be true only for a network interface created at launch.")
		}
		return nil
	}
	if sp.SubnetID != "" {
		if _, err := model.ParseSubnetID(sp.SubnetID); err != nil {
			return err
		}
	}
	if (sp.PrivateIP != "" || len(sp.Secondary.Specs) > 0 || len(sp.IPv6Addresses) > 0) && count > 1 {
		return model.Errorf(model.CodeInvalidParameterCombination, "A private IP address can be specified only when launching a single instance.")
	}
	ip, err := parsePrivateIP(sp.PrivateIP)
	if err != nil {
		return err
	}
	if _, _, err := sp.Secondary.resolve(ip); err != nil {
		return err
	}
	if _, err := parseIPv6s(sp.IPv6Addresses, sp.IPv6AddressCount); err != nil {
		return err
	}
	return firstError(checkIPv6Count(sp.IPv6AddressCount), model.CheckConntrackTimeouts(sp.Conntrack), checkENIDescription(sp.Description))
}

// validInstanceType accepts the shape family.size ("t3.micro", "m7i-flex.large").
func validInstanceType(s string) bool {
	fam, size, ok := strings.Cut(s, ".")
	ok = ok && fam != "" && size != "" && len(s) <= 64
	return ok && strings.Trim(fam+size, "abcdefghijklmnopqrstuvwxyz0123456789-") == ""
}

func instanceLimit(asked, limit int) error {
	return model.Errorf(model.CodeInstanceLimitExceeded, "You have requested more instances (%d) than your current instance limit of %d allows for the specified instance type. Please visit http://aws.amazon.com/contact-us/ec2-request to request an adjustment to this limit.", asked, limit)
}

// reservationByToken returns the reservation a ClientToken launched, or
// IdempotentParameterMismatch when the parameters differ.
func (t *tx) reservationByToken(token, hash string) (*Reservation, error) {
	if token == "" {
		return nil, nil
	}
	mine, err := t.instancesByToken(token)
	if err != nil {
		return nil, err
	}
	if len(mine) == 0 {
		return nil, nil
	}
	if mine[0].RequestHash != hash {
		return nil, idempotentMismatch()
	}
	ptrs := make([]*instanceRecord, len(mine))
	for i := range mine {
		ptrs[i] = &mine[i]
	}
	enis, names, err := t.instanceENIs(ptrs...)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(mine, func(a, b instanceRecord) int { return a.LaunchIndex - b.LaunchIndex })
	res := &Reservation{ID: mine[0].Reservation, Owner: t.c.Account}
	for i := range mine {
		res.Instances = append(res.Instances, instanceView(&mine[i], enis, names))
	}
	return res, nil
}

// launch is one RunInstances inside its transaction.
type launch struct {
	t        *tx
	in       *RunInstancesInput
	min, max int
	tags     map[string]model.Tags
	hash     string
	pools    *addrPools
	primary  *model.Subnet
	plans    []ifacePlan  // per device, in device order
	host     model.HostID // where the instances run ("": nowhere, no data plane)
}

// ifacePlan is one interface of every instance of the launch.
type ifacePlan struct {
	spec     InterfaceSpec
	existing *eniRecord // attach this one
	new      eniSpec    // else create one like this
}

func (l *launch) run() (*Reservation, error) {
	active, err := l.t.activeInstances()
	if err != nil {
		return nil, err
	}
	if err := l.plan(); err != nil {
		return nil, err
	}
	if l.host, err = l.t.placement(model.HostID(l.in.HostID)); err != nil {
		return nil, err
	}
	n, err := l.count(maxInstancesPerRegion - active)
	if err != nil {
		return nil, err
	}
	return l.create(n)
}

// plan resolves the subnets, groups and existing interfaces of the launch.
func (l *launch) plan() error {
	t, in := l.t, l.in
	for i, sp := range in.Interfaces {
		p := ifacePlan{spec: sp}
		var sn *model.Subnet
		var err error
		switch {
		case sp.NetworkInterfaceID != "":
			if p.existing, err = t.eniRec(model.ENIID(sp.NetworkInterfaceID)); err != nil {
				return err
			}
			if p.existing.Attachment != nil {
				return interfaceInUse(p.existing.ID)
			}
			sn, err = t.subnet(p.existing.Subnet)
		case sp.SubnetID != "":
			sn, err = t.subnet(model.SubnetID(sp.SubnetID))
		case i == 0:
			sn, err = t.defaultSubnet(in.Zone)
		default:
			sn = l.primary
		}
		if err != nil {
			return err
		}
		if i == 0 {
			if in.Zone != "" && sn.Zone != in.Zone {
				return model.Errorf(model.CodeInvalidParameterValue, "Value (%s) for parameter availabilityZone is invalid. Subnet '%s' is in the availability zone %s.", in.Zone, sn.ID, sn.Zone)
			}
			l.primary = sn
		} else if sn.VPC != l.primary.VPC || sn.Zone != l.primary.Zone {
			return model.Errorf(model.CodeInvalidParameterValue, "The network interfaces of an instance must be in one VPC and availability zone: %s is in %s, %s.", sn.ID, sn.VPC, sn.Zone)
		}
		if p.existing == nil {
			if p.new, err = l.newSpec(sn, sp, i == 0); err != nil {
				return err
			}
		}
		l.plans = append(l.plans, p)
	}
	return nil
}

func (l *launch) newSpec(sn *model.Subnet, sp InterfaceSpec, primary bool) (eniSpec, error) {
	ids := sp.GroupIDs
	if primary && len(l.in.GroupNames) > 0 {
		ids = slices.Clone(ids)
		for _, name := range l.in.GroupNames {
			g, err := l.t.groupByName(name)
			if err != nil {
				return eniSpec{}, err
			}
			ids = append(ids, string(g.ID))
		}
	}
	groups, err := l.t.interfaceGroups(sn, ids, groupsLaunch)
	if err != nil {
		return eniSpec{}, err
	}
	ip, _ := parsePrivateIP(sp.PrivateIP)        // checked by checkInterfaceSpec
	ip, secondary, _ := sp.Secondary.resolve(ip) // checked by checkInterfaceSpec
	v6, _ := parseIPv6s(sp.IPv6Addresses, sp.IPv6AddressCount)
	return eniSpec{sn, groups, ip, sp.IPv6AddressCount, sp.Description, sp.Conntrack, l.tags[ResourceTypeNetworkInterface], secondary, sp.Secondary.Count, v6}, nil
}

// count decides how many instances to launch: MaxCount if it fits, else
// as many as fit, but at least MinCount.
func (l *launch) count(regionRoom int) (int, error) {
	perInstance := len(l.plans) + 1 // the instance and its interfaces
	limit := min(maxLaunchPerCall, store.MaxTxnWrites/perInstance, regionRoom)
	if l.min > limit {
		return 0, instanceLimit(l.min, max(limit, 0))
	}
	n := min(l.max, limit)
	demand := map[model.SubnetID]int{}
	for _, p := range l.plans {
		if p.existing == nil && !p.new.privateIP.IsValid() && !p.new.subnet.IPv6Native { // a /64 does not run out
			demand[p.new.subnet.ID]++
		}
	}
	for _, p := range l.plans {
		if p.existing != nil || demand[p.new.subnet.ID] == 0 {
			continue
		}
		pool, err := l.pools.of(p.new.subnet)
		if err != nil {
			return 0, err
		}
		fit := pool.free4() / demand[p.new.subnet.ID]
		if fit < l.min {
			return 0, pool.insufficient()
		}
		n = min(n, fit)
	}
	return n, nil
}

// create stores n instances with their interfaces; fewer (but at least
// MinCount) if their keys and the index keys of their addresses would
// exceed store.MaxTxnWrites, which count cannot tell before the addresses
// are chosen (usually they add two or three keys in all).
func (l *launch) create(n int) (*Reservation, error) {
	t, now := l.t, l.t.s.now().UTC()
	names, err := t.groupNames(l.groups())
	if err != nil {
		return nil, err
	}
	res := &Reservation{ID: model.ReservationID(t.s.newID(model.KindReservation)), Owner: t.c.Account}
	// Keys written so far besides the address indexes: the instances and
	// their interfaces, and the instance count and the token's instances
	// written at the end.
	writes := 1
	if l.in.ClientToken != "" {
		writes++
	}
	if l.host != "" {
		writes++ // the host's instance count
	}
	var ids []model.InstanceID
	for k := range n {
		r := &instanceRecord{Instance: model.Instance{
			Scope: t.c.scope(), ID: model.InstanceID(t.s.newID(model.KindInstance)), Reservation: res.ID,
			ImageID: l.in.ImageID, InstanceType: l.in.InstanceType, State: t.s.startState(),
			VPC: l.primary.VPC, Subnet: l.primary.ID, Zone: l.primary.Zone, Host: l.host,
			LaunchTime: now, StateChanged: now, ClientToken: l.in.ClientToken, Tags: l.tags[ResourceTypeInstance],
		}, LaunchIndex: k, RequestHash: l.hash, HostTenancy: l.in.HostID != "", launchAttributes: l.in.Options.attributes()}
		saved := l.pools.save()
		enis := map[model.ENIID]*eniRecord{}
		var made []*eniRecord
		for _, p := range l.plans {
			e, err := l.iface(p, r.ID, now)
			if err != nil {
				return nil, err
			}
			enis[e.ID] = e
			made = append(made, e)
			r.ENIs = append(r.ENIs, e.ID)
		}
		if writes+1+len(made)+t.pendingIndexWrites() > store.MaxTxnWrites {
			l.pools.restore(saved)
			if k < l.min {
				return nil, instanceLimit(l.min, k)
			}
			break
		}
		writes += 1 + len(made)
		ids = append(ids, r.ID)
		for _, e := range made {
			if err := t.putENI(e); err != nil {
				return nil, err
			}
		}
		if err := t.putInstance(r); err != nil {
			return nil, err
		}
		v := instanceView(r, enis, names)
		v.State = model.StatePending
		v.StateTransitionReason, v.StateReason = stateReasons(&v.Instance)
		res.Instances = append(res.Instances, v)
	}
	if l.in.ClientToken != "" {
		t.setRunToken(l.in.ClientToken, ids) // none of its earlier instances is visible (reservationByToken)
	}
	if err := t.addHostLoad(l.host, len(ids)); err != nil {
		return nil, err
	}
	return res, t.addActiveInstances(len(ids))
}

// groups returns the groups of the launch's interfaces, each once.
func (l *launch) groups() []model.GroupID {
	var out []model.GroupID
	for _, p := range l.plans {
		gs := p.new.groups
		if p.existing != nil {
			gs = p.existing.Groups
		}
		for _, g := range gs {
			if !slices.Contains(out, g) {
				out = append(out, g)
			}
		}
	}
	return out
}

// iface makes or takes the interface of plan p for instance id.
func (l *launch) iface(p ifacePlan, id model.InstanceID, now time.Time) (*eniRecord, error) {
	e, del := p.existing, false
	if e == nil {
		var err error
		if e, err = l.t.newENI(l.pools, p.new); err != nil {
			return nil, err
		}
		del = true
	}
	if p.spec.DeleteOnTermination != nil {
		del = *p.spec.DeleteOnTermination
	}
	e.Attachment = &model.Attachment{
		ID: model.AttachmentID(l.t.s.newID(model.KindAttachment)), Instance: id,
		DeviceIndex: int(*p.spec.DeviceIndex), AttachTime: now, DeleteOnTermination: del,
	}
	return e, nil
}

// defaultSubnet returns the default subnet of zone (or of <region>a, or the
// first zone that has one) in the default VPC.
func (t *tx) defaultSubnet(zone string) (*model.Subnet, error) {
	v, err := t.defaultVPC()
	if err != nil {
		return nil, err
	}
	subnets, err := list[model.Subnet](t, kindSubnet)
	if err != nil {
		return nil, err
	}
	subnets = keep(subnets, func(sn *model.Subnet) bool { return sn.VPC == v.ID && sn.DefaultForAz })
	slices.SortFunc(subnets, func(a, b model.Subnet) int { return strings.Compare(a.Zone, b.Zone) })
	want := zone
	if want == "" {
		want = t.c.Region + "a"
	}
	for i := range subnets {
		if subnets[i].Zone == want {
			return &subnets[i], nil
		}
	}
	if zone != "" {
		return nil, model.Errorf(model.CodeMissingInput, "No default subnet for availability zone: '%s'.", zone)
	}
	if len(subnets) == 0 {
		return nil, model.Errorf(model.CodeMissingInput, "No subnets found for the default VPC '%s'. Please specify a subnet.", v.ID)
	}
	return &subnets[0], nil
}
