package service

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/store"
)

// Instance lifecycle, decided:
//
//   - Transitions complete at once in the store; responses report the
//     transitional state AWS reports. StopInstances stores "stopped" and
//     answers "stopping"; TerminateInstances stores "terminated" and
//     answers "shutting-down".
//   - RunInstances and StartInstances answer "pending". Without a data
//     plane they store "running", so DescribeInstances right after shows
//     "running" and `aws ec2 wait instance-running` returns at its first
//     poll. With one (WithWiring) they store "pending", and the instance
//     becomes "running" when the agent reports its namespace, interfaces,
//     routes and firewall in place (FollowWiring, wiring.go): as on AWS,
//     where an instance is pending until it has booted, an instance
//     reported running is reachable. The agent wires pending and running
//     instances alike and never has to interpret a clock.
//   - A pending instance cannot be stopped (IncorrectInstanceState, as on
//     AWS); starting a pending or running one changes nothing.
//   - A terminated instance stays visible for terminatedTTL after it was
//     terminated, then disappears (filtered by s.now() at read time, and
//     deleted lazily by DescribeInstances).
const terminatedTTL = time.Hour

// instanceRecord is how an instance is stored: model.Instance plus what it
// does not carry yet (see eniRecord).
type instanceRecord struct {
	model.Instance
	LaunchIndex int    `json:"launchIndex,omitempty"` // position in its reservation (amiLaunchIndex)
	RequestHash string `json:"requestHash,omitempty"` // RunInstances fingerprint, for ClientToken
	// HostTenancy: Placement.HostId chose the host (tenancy "host"); the
	// instance stays on it.
	HostTenancy bool `json:"hostTenancy,omitempty"`
	launchAttributes
}

// instanceRec returns a stored instance, expired or not.
func (t *tx) instanceRec(id model.InstanceID) (*instanceRecord, error) {
	var v instanceRecord
	if ok, err := t.get(kindInstance, string(id), &v); err != nil || !ok {
		return nil, orNotFound(err, model.KindInstance, string(id))
	}
	return &v, nil
}

// liveInstance returns an instance that is still visible.
func (t *tx) liveInstance(id model.InstanceID) (*instanceRecord, error) {
	r, err := t.instanceRec(id)
	if err != nil {
		return nil, err
	}
	if t.s.expired(&r.Instance) {
		return nil, model.KindInstance.NotFound(string(id))
	}
	return r, nil
}

// liveInstances lists the visible instances.
func (t *tx) liveInstances() ([]instanceRecord, error) {
	all, err := list[instanceRecord](t, kindInstance)
	if err != nil {
		return nil, err
	}
	return keep(all, func(r *instanceRecord) bool { return !t.s.expired(&r.Instance) }), nil
}

func (t *tx) putInstance(r *instanceRecord) error { return t.put(kindInstance, string(r.ID), r) }

// expired reports whether a terminated instance has passed its hour.
func (s *Service) expired(i *model.Instance) bool {
	return i.State == model.StateTerminated && !s.now().Before(i.StateChanged.Add(terminatedTTL))
}

// InstanceView is an instance as the API shows it.
type InstanceView struct {
	model.Instance
	LaunchIndex     int
	Interfaces      []NetworkInterface // attached, in device index order
	GroupSet        []GroupIdentifier  // the groups of all its interfaces, primary first
	PrivateIP       netip.Addr         // the primary interface's primary address
	PrivateDNSName  string
	SourceDestCheck bool // the primary interface's
	// StateTransitionReason and StateReason say why the instance is in
	// its state (see stateReasons).
	StateTransitionReason string
	StateReason           *StateReason
	Tenancy               string         // "host" when launched with Placement.HostId, else "default"
	Launch                LaunchSettings // the launch options it keeps (launchopts.go)
}

// Reservation is the instances one RunInstances launched.
type Reservation struct {
	ID        model.ReservationID
	Owner     model.AccountID
	Instances []InstanceView
}

// instanceView builds the view of r; enis maps interface IDs to records.
func instanceView(r *instanceRecord, enis map[model.ENIID]*eniRecord, names map[model.GroupID]string) InstanceView {
	v := InstanceView{Instance: r.Instance, LaunchIndex: r.LaunchIndex, SourceDestCheck: true, Tenancy: "default",
		Launch: r.launchAttributes.settings()}
	if r.HostTenancy {
		v.Tenancy = "host"
	}
	var groups []model.GroupID
	for _, id := range r.ENIs {
		e := enis[id]
		if e == nil {
			continue
		}
		v.Interfaces = append(v.Interfaces, e.view(names))
		for _, g := range e.Groups {
			if !slices.Contains(groups, g) {
				groups = append(groups, g)
			}
		}
	}
	v.GroupSet = groupSet(groups, names)
	v.StateTransitionReason, v.StateReason = stateReasons(&r.Instance)
	if len(v.Interfaces) > 0 {
		p := v.Interfaces[0]
		v.PrivateDNSName, v.SourceDestCheck = p.PrivateDNSName, p.SourceDestCheck
		if len(p.PrivateIPs) > 0 { // none in an IPv6-only subnet
			v.PrivateIP = p.PrivateIPs[0]
		}
	}
	return v
}

// instanceENIs reads the interfaces of instances, by ID, and the names of
// their groups: what instanceView needs, without reading the interfaces
// and groups of other instances.
func (t *tx) instanceENIs(insts ...*instanceRecord) (map[model.ENIID]*eniRecord, map[model.GroupID]string, error) {
	enis := map[model.ENIID]*eniRecord{}
	var all []*eniRecord
	for _, r := range insts {
		for _, id := range r.ENIs {
			var e eniRecord
			ok, err := t.get(kindENI, string(id), &e)
			if err != nil {
				return nil, nil, err
			}
			if ok {
				enis[id] = &e
				all = append(all, &e)
			}
		}
	}
	names, err := t.groupNames(groupsOf(all...))
	if err != nil {
		return nil, nil, err
	}
	return enis, names, nil
}

// eniIndex loads every interface, by ID.
func (t *tx) eniIndex() (map[model.ENIID]*eniRecord, error) {
	enis, err := list[eniRecord](t, kindENI)
	if err != nil {
		return nil, err
	}
	out := make(map[model.ENIID]*eniRecord, len(enis))
	for i := range enis {
		out[enis[i].ID] = &enis[i]
	}
	return out, nil
}

// DescribeInstancesInput is DescribeInstances' request.
type DescribeInstancesInput struct {
	IDs     []string
	Filters []Filter
	Page    Page // MaxResults counts instances
}

// DescribeInstances lists instances, grouped into their reservations, in
// instance ID order. Terminated instances older than an hour are gone (and
// deleted here, a bounded number per call). As on AWS, IDs and MaxResults
// cannot be combined.
func (s *Service) DescribeInstances(ctx context.Context, c Caller, in DescribeInstancesInput) ([]Reservation, string, error) {
	if err := checkFilters(in.Filters, instanceFields(&InstanceView{})); err != nil {
		return nil, "", err
	}
	if len(in.IDs) > 0 && in.Page.MaxResults != 0 {
		return nil, "", model.Errorf(model.CodeInvalidParameterCombination, "The parameter instancesSet cannot be used with the parameter maxResults")
	}
	var views []InstanceView
	// A transaction, not a view: it deletes the instances past their hour.
	err := s.txn(ctx, c, "DescribeInstances", func(t *tx) error {
		if err := t.purgeExpired(); err != nil {
			return err
		}
		live, err := t.liveInstances()
		if err != nil {
			return err
		}
		if live, err = selectByID(live, in.IDs, model.KindInstance, func(r instanceRecord) string { return string(r.ID) }); err != nil {
			return err
		}
		enis, err := t.eniIndex()
		if err != nil {
			return err
		}
		names, err := t.allGroupNames()
		if err != nil {
			return err
		}
		for i := range live {
			v := instanceView(&live[i], enis, names)
			if matchFilters(in.Filters, instanceFields(&v)) {
				views = append(views, v)
			}
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	page, next, err := paginate(views, func(v InstanceView) string { return string(v.ID) }, in.Page)
	return groupReservations(page), next, err
}

// groupReservations groups instances by reservation, in order of first
// appearance, each reservation's instances in launch order.
func groupReservations(views []InstanceView) []Reservation {
	var out []Reservation
	at := map[model.ReservationID]int{}
	for _, v := range views {
		i, ok := at[v.Reservation]
		if !ok {
			i = len(out)
			at[v.Reservation] = i
			out = append(out, Reservation{ID: v.Reservation, Owner: v.Account})
		}
		out[i].Instances = append(out[i].Instances, v)
	}
	for i := range out {
		slices.SortStableFunc(out[i].Instances, func(a, b InstanceView) int { return a.LaunchIndex - b.LaunchIndex })
	}
	return out
}

// purgeExpired deletes terminated instances past their hour, at most half a
// transaction's worth per call: the other half is for their ClientTokens'
// index entries, which lose them.
func (t *tx) purgeExpired() error {
	all, err := list[instanceRecord](t, kindInstance)
	if err != nil {
		return err
	}
	n := 0
	for _, r := range all {
		if t.s.expired(&r.Instance) && n < store.MaxTxnWrites/2 {
			if err := t.del(kindInstance, string(r.ID)); err != nil {
				return err
			}
			if err := t.forgetRunToken(&r); err != nil {
				return err
			}
			n++
		}
	}
	return nil
}

// forgetRunToken takes a deleted instance off its ClientToken's list.
func (t *tx) forgetRunToken(r *instanceRecord) error {
	ids, err := t.runToken(r.ClientToken)
	if err != nil || !slices.Contains(ids, r.ID) {
		return err
	}
	t.setRunToken(r.ClientToken, slices.DeleteFunc(ids, func(id model.InstanceID) bool { return id == r.ID }))
	return nil
}

// instanceFields answers DescribeInstances' filters.
func instanceFields(v *InstanceView) fieldsFunc {
	return func(name string) ([]string, bool) {
		ifaces := func(f func(n *NetworkInterface) []string) []string {
			var out []string
			for i := range v.Interfaces {
				out = append(out, f(&v.Interfaces[i])...)
			}
			return out
		}
		switch name {
		case "instance-id":
			return []string{string(v.ID)}, true
		case "instance-state-name":
			return []string{string(v.State)}, true
		case "instance-state-code":
			return []string{strconv.Itoa(v.State.Code())}, true
		case "vpc-id":
			return []string{string(v.VPC)}, true
		case "subnet-id":
			return []string{string(v.Subnet)}, true
		case "availability-zone":
			return []string{v.Zone}, true
		case "reservation-id":
			return []string{string(v.Reservation)}, true
		case "image-id":
			return []string{v.ImageID}, true
		case "instance-type":
			return []string{v.InstanceType}, true
		case "host-id":
			if v.Host == "" {
				return nil, true
			}
			return []string{string(v.Host)}, true
		case "tenancy", "placement-tenancy":
			return []string{v.Tenancy}, true
		case "owner-id":
			return []string{string(v.Account)}, true
		case "client-token":
			return nonEmpty(v.ClientToken), true
		case "private-ip-address":
			return nonEmpty(addrString(v.PrivateIP)), true
		case "private-dns-name":
			return nonEmpty(v.PrivateDNSName), true
		case "instance.group-id", "network-interface.group-id":
			return mapStrings(v.GroupSet, func(g GroupIdentifier) string { return string(g.ID) }), true
		case "instance.group-name", "network-interface.group-name":
			return mapStrings(v.GroupSet, func(g GroupIdentifier) string { return g.Name }), true
		case "network-interface.network-interface-id":
			return ifaces(func(n *NetworkInterface) []string { return []string{string(n.ID)} }), true
		case "network-interface.subnet-id":
			return ifaces(func(n *NetworkInterface) []string { return []string{string(n.Subnet)} }), true
		case "network-interface.vpc-id":
			return ifaces(func(n *NetworkInterface) []string { return []string{string(n.VPC)} }), true
		case "network-interface.mac-address":
			return ifaces(func(n *NetworkInterface) []string { return []string{n.MAC} }), true
		case "network-interface.addresses.private-ip-address", "network-interface.private-ip-address":
			return ifaces(func(n *NetworkInterface) []string { return mapStrings(n.PrivateIPs, netip.Addr.String) }), true
		case "network-interface.ipv6-addresses.ipv6-address", "ipv6-address":
			return ifaces(func(n *NetworkInterface) []string { return mapStrings(n.IPv6s, netip.Addr.String) }), true
		case "network-interface.source-dest-check":
			return ifaces(func(n *NetworkInterface) []string { return []string{strconv.FormatBool(n.SourceDestCheck)} }), true
		case "network-interface.status":
			return ifaces(func(n *NetworkInterface) []string { return []string{n.Status()} }), true
		case "network-interface.description":
			return ifaces(func(n *NetworkInterface) []string { return []string{n.Description} }), true
		case "network-interface.owner-id":
			return ifaces(func(n *NetworkInterface) []string { return []string{string(n.Account)} }), true
		case "source-dest-check":
			return []string{strconv.FormatBool(v.SourceDestCheck)}, true
		case "reason":
			return nonEmpty(v.StateTransitionReason), true
		case "state-reason-code", "state-reason-message":
			if v.StateReason == nil {
				return nil, true
			}
			if name == "state-reason-code" {
				return []string{v.StateReason.Code}, true
			}
			return []string{v.StateReason.Message}, true
		case "launch-time":
			return []string{v.LaunchTime.UTC().Format("2006-01-02T15:04:05.000Z")}, true
		case "ami-launch-index":
			return []string{strconv.Itoa(v.LaunchIndex)}, true
		case "availability-zone-id":
			return nonEmpty(zoneID(v.Zone)), true
		}
		if vals, ok := v.Launch.fields(name); ok {
			return vals, true
		}
		if vals, ok := labMachineFields[name]; ok {
			return vals, true
		}
		return tagFields(v.Tags, name)
	}
}

// labMachineFields are the filters of the facts every lab instance shares
// (ec2api renders the same: an x86_64 HVM machine on Xen with an EBS root
// at /dev/xvda, no monitoring, Linux/UNIX), and of what it
// never has (key pairs, public addresses, IAM profiles, spot or placement
// groups): those match no value.
var labMachineFields = map[string][]string{
	"architecture": {"x86_64"}, "hypervisor": {"xen"}, "virtualization-type": {"hvm"},
	"root-device-type": {"ebs"}, "root-device-name": {"/dev/xvda"},
	"monitoring-state": {"disabled"}, "platform-details": {"Linux/UNIX"},
	"usage-operation": {"RunInstances"}, "ena-support": {"true"}, "ebs-optimized": {"false"},
	"key-name": nil, "ip-address": nil, "dns-name": nil, "iam-instance-profile.arn": nil, "instance-lifecycle": nil,
	"spot-instance-request-id": nil, "placement-group-name": nil, "product-code": nil, "platform": nil,
	"kernel-id": nil, "ramdisk-id": nil, "network-interface.association.public-ip": nil,
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// InstanceStateChange is one item of Terminate/Stop/StartInstances.
type InstanceStateChange struct {
	ID       model.InstanceID
	Previous model.InstanceState
	Current  model.InstanceState
}

// parseInstanceIDs validates InstanceId.N (at least one; duplicates
// dropped).
func parseInstanceIDs(ids []string) ([]model.InstanceID, error) {
	if len(ids) == 0 {
		return nil, model.Errorf(model.CodeMissingParameter, "The request must contain the parameter InstanceId")
	}
	var out []model.InstanceID
	for _, s := range ids {
		id, err := model.ParseInstanceID(s)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out, nil
}

// TerminateInstances terminates instances: each is stored as terminated
// and answered as shutting-down (already terminated: terminated). Its
// interfaces with DeleteOnTermination are deleted, the others detached,
// so its groups lose it as a member at once.
//
// AWS takes up to 1,000 IDs, and an unknown one fails the whole request
// with nothing terminated; the error names every unknown ID, and a request
// without IDs is InvalidParameterCombination. One store transaction holds at most
// store.MaxTxnWrites keys (an instance, its interfaces, the index keys of
// the addresses and tokens they free), so the IDs are all checked first,
// in one read, and then terminated in batches that fit, each batch one
// transaction. Decided: should a batch fail after others (the store fails,
// or an instance expired in between), the earlier batches stay
// terminated; terminating is idempotent, so the same request can be
// repeated.
func (s *Service) TerminateInstances(ctx context.Context, c Caller, ids []string) ([]InstanceStateChange, error) {
	if len(ids) == 0 {
		return nil, model.Errorf(model.CodeInvalidParameterCombination, "No instances specified")
	}
	iids, err := parseInstanceIDs(ids)
	if err != nil {
		return nil, err
	}
	if len(iids) > maxTerminatePerCall {
		return nil, model.Errorf(model.CodeInvalidParameterValue, "One request may terminate at most %d instances.", maxTerminatePerCall)
	}
	if len(iids) > terminateBatch {
		err := s.read(ctx, c, "TerminateInstances", func(t *tx) error {
			_, err := t.liveInstancesByID(iids)
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	var out []InstanceStateChange
	for batch := range slices.Chunk(iids, terminateBatch) {
		got, err := s.terminateInstances(ctx, c, batch)
		if err != nil {
			return nil, err
		}
		out = append(out, got...)
	}
	return out, nil
}

const (
	maxTerminatePerCall = 1000 // AWS's limit of IDs per TerminateInstances
	// terminateBatch instances are tried in one transaction: with one or
	// two interfaces each, they fit in store.MaxTxnWrites with their index
	// keys; a batch that does not fit is halved.
	terminateBatch = 32
)

// errBatchTooLarge says that a batch of instances writes more keys than
// one transaction may. It is a model error so that the transaction passes
// it through unchanged (it never reaches a client: the batch is halved).
var errBatchTooLarge = model.Errorf(model.CodeInvalidParameterValue, "These instances and their network interfaces are more than one request can change.")

// terminateInstances terminates iids in one transaction, or, when they
// write more keys than one transaction may, in two halves, recursively.
func (s *Service) terminateInstances(ctx context.Context, c Caller, iids []model.InstanceID) ([]InstanceStateChange, error) {
	var out []InstanceStateChange
	err := s.txn(ctx, c, "TerminateInstances", func(t *tx) error {
		out = out[:0]
		recs, err := t.liveInstancesByID(iids)
		if err != nil {
			return err
		}
		writes := 0
		for _, r := range recs {
			writes += 1 + len(r.ENIs)
		}
		if writes > store.MaxTxnWrites {
			return errBatchTooLarge
		}
		for _, r := range recs {
			if r.DisableAPITermination && r.State != model.StateTerminated {
				return mayNot(r.ID, "terminated", "disableApiTermination")
			}
		}
		for _, r := range recs {
			ch := InstanceStateChange{ID: r.ID, Previous: r.State, Current: model.StateShuttingDown}
			if r.State == model.StateTerminated {
				ch.Current = model.StateTerminated
			} else if err := t.terminate(r); err != nil {
				return err
			}
			out = append(out, ch)
		}
		// The index writes are buffered until the transaction ends: count
		// them before they fail it.
		if writes+t.pendingIndexWrites() > store.MaxTxnWrites {
			return errBatchTooLarge
		}
		return nil
	})
	if !errors.Is(err, errBatchTooLarge) {
		return out, err
	}
	if len(iids) == 1 {
		return nil, model.Errorf(model.CodeInvalidParameterValue, "Instance %s and its network interfaces are more than one request can change (%d keys).", iids[0], store.MaxTxnWrites)
	}
	half := len(iids) / 2
	first, err := s.terminateInstances(ctx, c, iids[:half])
	if err != nil {
		return nil, err
	}
	rest, err := s.terminateInstances(ctx, c, iids[half:])
	return append(first, rest...), err
}

func (t *tx) terminate(r *instanceRecord) error {
	for _, id := range r.ENIs {
		e, err := t.eniRec(id)
		if err != nil {
			return err
		}
		if e.Attachment != nil && e.Attachment.DeleteOnTermination {
			err = t.deleteENI(e)
		} else {
			e.Attachment = nil
			err = t.putENI(e)
		}
		if err != nil {
			return err
		}
	}
	if err := t.addHostLoad(r.Host, -1); err != nil {
		return err
	}
	r.ENIs, r.State, r.StateChanged = nil, model.StateTerminated, t.s.now().UTC()
	if err := t.addActiveInstances(-1); err != nil {
		return err
	}
	return t.putInstance(r)
}

// An error names every ID that does not exist, as AWS's does.
func (t *tx) liveInstancesByID(ids []model.InstanceID) ([]*instanceRecord, error) {
	out := make([]*instanceRecord, 0, len(ids))
	var missing []string
	for _, id := range ids {
		r, err := t.liveInstance(id)
		if model.CodeOf(err) == model.CodeInvalidInstanceIDNotFound {
			missing = append(missing, string(id))
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	switch len(missing) {
	case 0:
		return out, nil
	case 1:
		return nil, model.KindInstance.NotFound(missing[0])
	}
	return nil, model.Errorf(model.CodeInvalidInstanceIDNotFound, "The instance IDs '%s' do not exist", strings.Join(missing, ", "))
}

// StopInstances stops running instances: stored as stopped, answered as
// stopping. A stopped one stays stopped; a pending or terminated one is
// IncorrectInstanceState. Interfaces stay attached.
func (s *Service) StopInstances(ctx context.Context, c Caller, ids []string) ([]InstanceStateChange, error) {
	return s.transition(ctx, c, "StopInstances", ids, model.StateRunning, model.StateStopped, model.StateStopping,
		[]model.InstanceState{model.StateStopped}, "This instance '%s' is not in a state from which it can be stopped.")
}

// StartInstances starts stopped instances: stored as running (pending with
// a data plane, see the top of this file), answered as pending. A pending
// or running one stays as it is; a terminated one is
// IncorrectInstanceState.
func (s *Service) StartInstances(ctx context.Context, c Caller, ids []string) ([]InstanceStateChange, error) {
	return s.transition(ctx, c, "StartInstances", ids, model.StateStopped, s.startState(), model.StatePending,
		[]model.InstanceState{model.StatePending, model.StateRunning}, "The instance '%s' is not in a state from which it can be started.")
}

// transition moves instances from state from to state to (answered as
// shown); instances in one of the states stay are left alone.
func (s *Service) transition(ctx context.Context, c Caller, op string, ids []string, from, to, shown model.InstanceState, stay []model.InstanceState, badState string) ([]InstanceStateChange, error) {
	iids, err := parseInstanceIDs(ids)
	if err != nil {
		return nil, err
	}
	if len(iids) > store.MaxTxnWrites {
		return nil, model.Errorf(model.CodeInvalidParameterValue, "One request may change at most %d instances.", store.MaxTxnWrites)
	}
	var out []InstanceStateChange
	err = s.txn(ctx, c, op, func(t *tx) error {
		out = out[:0]
		recs, err := t.liveInstancesByID(iids)
		if err != nil {
			return err
		}
		for _, r := range recs {
			switch {
			case slices.Contains(stay, r.State):
				out = append(out, InstanceStateChange{r.ID, r.State, r.State})
			case r.State == from && to == model.StateStopped && r.DisableAPIStop:
				return mayNot(r.ID, "stopped", "disableApiStop")
			case r.State == from:
				out = append(out, InstanceStateChange{r.ID, from, shown})
				if to != model.StateStopped {
					if err := t.replace(r); err != nil {
						return err
					}
				}
				r.State, r.StateChanged = to, s.now().UTC()
				if err := t.putInstance(r); err != nil {
					return err
				}
			default:
				return model.Errorf(model.CodeIncorrectState, badState, r.ID)
			}
		}
		// Starting instances on other hosts also changes the hosts'
		// instance counts.
		if n := len(out) + t.pendingIndexWrites(); n > store.MaxTxnWrites {
			return model.Errorf(model.CodeInvalidParameterValue, "These instances and their hosts are more than one request can change (%d keys, at most %d): start fewer at a time.", n, store.MaxTxnWrites)
		}
		return nil
	})
	return out, err
}
