package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"

	"palisade.dev/palisade/internal/dataplane"
	"palisade.dev/palisade/internal/lab"
	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/policy"
	"palisade.dev/palisade/internal/store"
)

// mirror is the agent's copy of the store's resources, kept current from the
// watch, with each VPC's policy input in a policy.Compiler fed change by
// change. Reconcile derives everything from it (level-triggered); dirty
// says which VPCs changed since the last reconcile, so that a change costs
// the compile of its own VPC's changes only.
type mirror struct {
	vpcs      map[model.VpcID]*model.VPC
	subnets   map[model.SubnetID]*model.Subnet
	groups    map[model.GroupID]*model.SecurityGroup
	enis      map[model.ENIID]*model.ENI
	instances map[model.InstanceID]*model.Instance
	lists     map[model.PrefixListID]*model.PrefixList
	hosts     map[string]*model.LabHost // by namespace name
	flowLogs  map[model.FlowLogID]*model.FlowLog
	// revs holds each instance record's store revision (ModRevision): the
	// generation a wiring report names (model.WiredReport).
	revs map[model.InstanceID]int64
	// machines are the hosts' records (model.Host) by host ID: where the
	// other hosts' routers are.
	machines map[model.HostID]*model.Host
	// place says which instances and lab hosts are this host's to wire.
	place placement

	nets  map[model.VpcID]*vpcNet
	dirty map[model.VpcID]bool
}

// vpcNet is what the mirror knows of one VPC: its compiler (its groups,
// interfaces and the prefix lists of its scope) and its instances and lab
// hosts. It exists as soon as anything names the VPC (the store lists
// interfaces before the VPC record).
type vpcNet struct {
	compiler  *policy.Compiler
	scope     *model.Scope // whose prefix lists the compiler holds; nil before the VPC record
	instances map[model.InstanceID]bool
	hosts     map[string]bool // namespace names
	// view is the VPC's view as last derived, until something it reads
	// changes (rewire): a rule or membership change, which only the
	// compiler reads, costs no walk over the VPC's instances and peers.
	view *vpcView
}

// placement says which instances and lab hosts a host wires: those placed
// on it (self), and, with unplaced, those placed on no host (one machine,
// where serve's own agent wires everything and has a router for every
// VPC).
type placement struct {
	self     model.HostID
	unplaced bool
}

// local reports whether something placed on host h is this host's.
func (p placement) local(h model.HostID) bool {
	return h == p.self && h != "" || h == "" && p.unplaced
}

func newMirror(place placement) *mirror {
	return &mirror{
		place:     place,
		machines:  map[model.HostID]*model.Host{},
		vpcs:      map[model.VpcID]*model.VPC{},
		subnets:   map[model.SubnetID]*model.Subnet{},
		groups:    map[model.GroupID]*model.SecurityGroup{},
		enis:      map[model.ENIID]*model.ENI{},
		instances: map[model.InstanceID]*model.Instance{},
		lists:     map[model.PrefixListID]*model.PrefixList{},
		hosts:     map[string]*model.LabHost{},
		revs:      map[model.InstanceID]int64{},
		nets:      map[model.VpcID]*vpcNet{},
		dirty:     map[model.VpcID]bool{},
	}
}

// net returns the VPC's entry, creating it.
func (w *mirror) net(id model.VpcID) *vpcNet {
	n := w.nets[id]
	if n == nil {
		n = &vpcNet{compiler: policy.NewCompiler(), instances: map[model.InstanceID]bool{}, hosts: map[string]bool{}}
		w.nets[id] = n
	}
	return n
}

// apply records one key's new value (nil: deleted) written at revision
// rev, passes it to the compiler of its VPC and marks the VPCs it concerns,
// before and after, dirty. Keys that are not resources are ignored.
func (w *mirror) apply(key string, value []byte, rev int64) error {
	if name, alive, ok := model.ParseHostKey(key); ok {
		if !alive {
			return w.applyHost(name, value)
		}
		return nil
	}
	scope, kind, id, ok := model.ParseResourceKey(key)
	if !ok {
		return nil
	}
	switch kind {
	case model.KeyVPC:
		_, cur, err := put(w.vpcs, model.VpcID(id), value)
		if cur != nil {
			w.scoped(cur)
		}
		w.dirty[model.VpcID(id)] = true
		if n := w.nets[model.VpcID(id)]; n != nil {
			n.view = nil
		}
		return err
	case model.KeySubnet:
		old, cur, err := put(w.subnets, model.SubnetID(id), value)
		touch(w, old, cur, func(s *model.Subnet) model.VpcID { return s.VPC })
		rewire(w, old, cur, func(s *model.Subnet) model.VpcID { return s.VPC })
		return err
	case model.KeyGroup:
		old, cur, err := put(w.groups, model.GroupID(id), value)
		if old != nil && (cur == nil || cur.VPC != old.VPC) {
			w.net(old.VPC).compiler.DeleteGroup(old.ID)
		}
		if cur != nil {
			w.net(cur.VPC).compiler.PutGroup(cur)
		}
		touch(w, old, cur, func(g *model.SecurityGroup) model.VpcID { return g.VPC })
		return err
	case model.KeyENI:
		old, cur, err := put(w.enis, model.ENIID(id), value)
		if old != nil && (cur == nil || cur.VPC != old.VPC) {
			w.net(old.VPC).compiler.DeleteENI(old.ID)
		}
		if cur != nil {
			w.net(cur.VPC).compiler.PutENI(cur)
		}
		touch(w, old, cur, func(e *model.ENI) model.VpcID { return e.VPC })
		if !sameWiring(old, cur) {
			rewire(w, old, cur, func(e *model.ENI) model.VpcID { return e.VPC })
		}
		return err
	case model.KeyInstance:
		old, cur, err := put(w.instances, model.InstanceID(id), value)
		if old != nil {
			delete(w.net(old.VPC).instances, old.ID)
			delete(w.revs, old.ID)
		}
		if cur != nil {
			w.net(cur.VPC).instances[cur.ID] = true
			w.revs[cur.ID] = rev
		}
		touch(w, old, cur, func(i *model.Instance) model.VpcID { return i.VPC })
		rewire(w, old, cur, func(i *model.Instance) model.VpcID { return i.VPC })
		return err
	case model.KeyPrefixList:
		old, cur, err := put(w.lists, model.PrefixListID(id), value)
		for vid, n := range w.nets {
			switch {
			case n.scope == nil:
			case cur != nil && cur.Scope == *n.scope:
				n.compiler.PutPrefixList(cur)
				w.dirty[vid] = true
			case old != nil && old.Scope == *n.scope:
				n.compiler.DeletePrefixList(old.ID)
				w.dirty[vid] = true
			}
		}
		return err
	case model.KeyLabHost:
		ns := model.LabHostNamespace(scope.Account, id) // names are unique per account only
		old, cur, err := put(w.hosts, ns, value)
		if old != nil {
			delete(w.net(old.VPC).hosts, ns)
		}
		if cur != nil {
			w.net(cur.VPC).hosts[ns] = true
		}
		touch(w, old, cur, func(h *model.LabHost) model.VpcID { return h.VPC })
		rewire(w, old, cur, func(h *model.LabHost) model.VpcID { return h.VPC })
		return err
	case model.KeyFlowLog:
		return w.applyFlowLog(model.FlowLogID(id), value)
	}
	return nil
}

// applyHost records a host's record (nil value: gone). Every VPC may have
// members there: all are dirty (host records change rarely).
func (w *mirror) applyHost(name string, value []byte) error {
	for id, h := range w.machines {
		if h.Name == name {
			delete(w.machines, id)
		}
	}
	for id := range w.vpcs {
		w.dirty[id] = true
	}
	for _, n := range w.nets {
		n.view = nil
	}
	if value == nil {
		return nil
	}
	h := new(model.Host)
	if err := json.Unmarshal(value, h); err != nil {
		return fmt.Errorf("decode host %s: %w", name, err)
	}
	if h.Name != name || h.ID == "" {
		return fmt.Errorf("host record under %s names %q (%s)", name, h.Name, h.ID)
	}
	w.machines[h.ID] = h
	return nil
}

// scoped gives the VPC's compiler the prefix lists of its scope, the first
// time the VPC record is seen.
func (w *mirror) scoped(v *model.VPC) {
	n := w.net(v.ID)
	if n.scope != nil && *n.scope == v.Scope {
		return
	}
	if n.scope != nil { // a VPC does not move; but if it did, its lists would
		for _, pl := range w.lists {
			if pl.Scope == *n.scope {
				n.compiler.DeletePrefixList(pl.ID)
			}
		}
	}
	scope := v.Scope
	n.scope = &scope
	for _, pl := range w.lists {
		if pl.Scope == scope {
			n.compiler.PutPrefixList(pl)
		}
	}
}

// put decodes value into m[k] (nil: deletes it) and returns the old and
// new values. A value that does not decode deletes the old one: the
// resource is treated as gone rather than enforced from a stale copy.
func put[K comparable, V any](m map[K]*V, k K, value []byte) (old, cur *V, err error) {
	old = m[k]
	delete(m, k)
	if value == nil {
		return old, nil, nil
	}
	v := new(V)
	if err := json.Unmarshal(value, v); err != nil {
		return old, nil, fmt.Errorf("decode %v: %w", k, err)
	}
	m[k] = v
	return old, v, nil
}

// touch marks the VPCs of a resource's old and new values dirty.
func touch[V any](w *mirror, old, cur *V, vpc func(*V) model.VpcID) {
	if old != nil {
		w.dirty[vpc(old)] = true
	}
	if cur != nil {
		w.dirty[vpc(cur)] = true
	}
}

// rewire drops the cached views of a resource's old and new VPCs.
func rewire[V any](w *mirror, old, cur *V, vpc func(*V) model.VpcID) {
	for _, x := range []*V{old, cur} {
		if x == nil {
			continue
		}
		if n := w.nets[vpc(x)]; n != nil {
			n.view = nil
		}
	}
}

// sameWiring reports whether two values of an interface (nil: none) look
// alike to view: its VPC, subnet, addresses and device index. The other
// fields (groups, conntrack timeouts, description) are the compiler's.
func sameWiring(a, b *model.ENI) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.VPC == b.VPC && a.Subnet == b.Subnet && slices.Equal(a.PrivateIPs, b.PrivateIPs) && slices.Equal(a.IPv6s, b.IPv6s) &&
		(a.Attachment == nil) == (b.Attachment == nil) && (a.Attachment == nil || a.Attachment.DeviceIndex == b.Attachment.DeviceIndex)
}

// changed returns the VPCs changed since the last call.
func (w *mirror) changed() map[model.VpcID]bool {
	dirty := w.dirty
	w.dirty = map[model.VpcID]bool{}
	return dirty
}

// running reports whether an instance has a network: pending and running
// instances do; stopped, stopping and terminated ones do not.
func running(i *model.Instance) bool {
	return i.State == model.StatePending || i.State == model.StateRunning
}

// vpcView is what one VPC needs on this host: its lab wiring, the other
// hosts that have it, and its compiler, which enforces the view's ports.
type vpcView struct {
	vpc       *model.VPC
	instances []lab.Instance
	hosts     []lab.Host
	// peers are the other hosts with instances or lab hosts of the VPC,
	// with the addresses they serve; missing the hosts whose record the
	// mirror does not have (yet).
	peers   []peer
	missing []model.HostID
	// local says the host has a router for the VPC: it has instances or
	// lab hosts of it here, or wires unplaced ones (then every VPC).
	local    bool
	compiler *policy.Compiler
	ports    []model.ENIID // ENIs attached to this host's running instances, enforced
	fw       Input         // the firewall's input: ports and outside interfaces
	// pending are the pending instances of instances: once wired, the
	// agent reports them (model.HostRoot) and the service makes them
	// running.
	pending []pendingInstance
	// ov is the overlay as last derived for ovSelf and ovUnderlay (the
	// view's peers do not change while the view is cached).
	ov         *lab.Overlay
	ovSelf     string
	ovUnderlay netip.Addr
}

// peer is another host that has the VPC.
type peer struct {
	host  *model.Host
	addrs []netip.Addr
}

// pendingInstance is a pending instance and the revision of its record.
type pendingInstance struct {
	ID    model.InstanceID
	Scope model.Scope
	Rev   int64
}

// vpcIDs returns the VPCs of the mirror in ID order.
func (w *mirror) vpcIDs() []model.VpcID {
	ids := make([]model.VpcID, 0, len(w.vpcs))
	for id := range w.vpcs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// view derives VPC id's wiring, peers and enforced ports from the mirror,
// in the time of its own instances and hosts, and tells its compiler which
// interfaces to enforce: this host's. Group membership spans every host.
// The view is kept until something it reads changes; callers do not
// modify it.
func (w *mirror) view(id model.VpcID) *vpcView {
	n := w.net(id)
	if n.view != nil {
		return n.view
	}
	v := &vpcView{vpc: w.vpcs[id], compiler: n.compiler, local: w.place.unplaced}
	remote := map[model.HostID][]netip.Addr{}
	for iid := range n.instances {
		i := w.instances[iid]
		if i == nil || !running(i) {
			continue
		}
		if !w.place.local(i.Host) {
			for _, eid := range i.ENIs {
				if e := w.enis[eid]; e != nil && e.VPC == id {
					remote[i.Host] = append(remote[i.Host], e.PrivateIPs...)
					remote[i.Host] = append(remote[i.Host], e.IPv6s...)
				}
			}
			continue
		}
		li := lab.Instance{ID: i.ID, VPC: i.VPC}
		for dev, eid := range i.ENIs {
			e := w.enis[eid]
			if e == nil || e.VPC != id || len(e.PrivateIPs) == 0 && len(e.IPv6s) == 0 {
				continue
			}
			li.NICs = append(li.NICs, w.nic(e, dev))
			v.ports = append(v.ports, eid)
		}
		if len(li.NICs) > 0 {
			v.instances = append(v.instances, li)
			if i.State == model.StatePending {
				v.pending = append(v.pending, pendingInstance{ID: i.ID, Scope: i.Scope, Rev: w.revs[i.ID]})
			}
		}
	}
	for ns := range n.hosts {
		h := w.hosts[ns]
		switch {
		case h == nil:
		case w.place.local(h.Host):
			v.hosts = append(v.hosts, lab.Host{Name: ns, VPC: h.VPC, IPv4: h.IPv4, IPv6: h.IPv6})
		default:
			remote[h.Host] = append(remote[h.Host], h.IPv4)
			if h.IPv6.IsValid() {
				remote[h.Host] = append(remote[h.Host], h.IPv6)
			}
		}
	}
	v.local = v.local || len(v.instances) > 0 || len(v.hosts) > 0
	for hid, addrs := range remote {
		rec := w.machines[hid]
		if rec == nil {
			v.missing = append(v.missing, hid)
			continue
		}
		slices.SortFunc(addrs, netip.Addr.Compare)
		v.peers = append(v.peers, peer{host: rec, addrs: slices.Compact(addrs)})
	}
	slices.SortFunc(v.peers, func(a, b peer) int { return cmpStr(a.host.Name, b.host.Name) })
	slices.Sort(v.missing)
	slices.SortFunc(v.instances, func(a, b lab.Instance) int { return cmpStr(string(a.ID), string(b.ID)) })
	slices.SortFunc(v.hosts, func(a, b lab.Host) int { return cmpStr(a.Name, b.Name) })
	slices.Sort(v.ports)
	v.ports = slices.Compact(v.ports)
	only := make(map[model.ENIID]bool, len(v.ports))
	for _, p := range v.ports {
		only[p] = true
	}
	n.compiler.Enforce(only)
	v.fw = v.firewallInput()
	n.view = v
	return v
}

// overlay is the VPC router's overlay to the view's peers, as host self
// (name, underlay) sees it.
// The same view returns the same overlay, peers and all, so that
// comparing it with the last one ensured is quick.
func (v *vpcView) overlay(self string, underlay netip.Addr) lab.Overlay {
	if v.ov != nil && v.ovSelf == self && v.ovUnderlay == underlay {
		return *v.ov
	}
	o := lab.Overlay{VNI: lab.VNI(v.vpc.ID), Local: underlay, MAC: lab.HostMAC(self)}
	for _, p := range v.peers {
		o.Peers = append(o.Peers, lab.Peer{Underlay: p.host.Underlay, MAC: lab.HostMAC(p.host.Name), Addrs: p.addrs})
	}
	v.ov, v.ovSelf, v.ovUnderlay = &o, self, underlay
	return o
}

// snapshot is VPC id's policy input as one value: its groups, its
// interfaces, the prefix lists of its scope, its enforced ports.
func (w *mirror) snapshot(id model.VpcID, ports []model.ENIID) policy.Snapshot {
	var s policy.Snapshot
	for _, g := range w.groups {
		if g.VPC == id {
			s.Groups = append(s.Groups, *g)
		}
	}
	for _, e := range w.enis {
		if e.VPC == id {
			s.ENIs = append(s.ENIs, *e)
		}
	}
	if v := w.vpcs[id]; v != nil {
		for _, pl := range w.lists {
			if pl.Scope == v.Scope {
				s.PrefixLists = append(s.PrefixLists, *pl)
			}
		}
	}
	s.Only = map[model.ENIID]bool{}
	for _, p := range ports {
		s.Only[p] = true
	}
	return s
}

// Input is one VPC's firewall input as the agent derives it from the
// store: the policy input (the agent itself feeds it to a policy.Compiler
// change by change), the interfaces it enforces (those of running
// instances) and the router-side interfaces of its lab hosts.
type Input struct {
	Snapshot   policy.Snapshot
	Ports      []model.ENIID
	HostIfaces []string
}

// firewallInput is the view's firewall input, made once with the view:
// the one hand-off from the mirror to the data plane (Input.Desired).
func (v *vpcView) firewallInput() Input {
	in := Input{Ports: v.ports}
	for _, h := range v.hosts {
		in.HostIfaces = append(in.HostIfaces, lab.HostIfName(h.Name))
	}
	if len(v.peers) > 0 {
		// To this host's firewall the overlay is the outside, as a lab
		// host is: the sender's host enforced its egress, the
		// receiver's host enforces its ingress.
		in.HostIfaces = append(in.HostIfaces, lab.OverlayIfName)
	}
	return in
}

// Desired is the firewall content of the input, compiled as c.
func (in *Input) Desired(c *policy.Compiled) dataplane.Desired {
	d := dataplane.Desired{HostIfaces: in.HostIfaces}
	for _, eni := range in.Ports {
		if p := c.Policy(eni); p != nil {
			d.Ports = append(d.Ports, dataplane.Port{ENI: eni, IfName: lab.RouterIfName(eni), Policy: p})
		}
	}
	return d
}

// ReadInput lists the store and returns VPC vpc's input exactly as the
// agent would program it (for tools that measure what the agent does).
func ReadInput(ctx context.Context, st store.Store, vpc model.VpcID) (*Input, error) {
	page, err := st.List(ctx, model.ResourceRoot, store.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list resources: %w", err)
	}
	w := newMirror(placement{unplaced: true})
	for _, kv := range page.KVs {
		if err := w.apply(kv.Key, kv.Value, kv.ModRevision); err != nil {
			return nil, err
		}
	}
	if w.vpcs[vpc] == nil {
		return nil, fmt.Errorf("%s is not in the store", vpc)
	}
	in := w.view(vpc).fw
	in.Snapshot = w.snapshot(vpc, in.Ports)
	return &in, nil
}

// nic is the lab wiring of one interface: its primary addresses with the
// prefix length of its subnet (no IPv4 in an IPv6-only subnet), and its
// other IPv4 and IPv6 addresses.
func (w *mirror) nic(e *model.ENI, dev int) lab.NIC {
	n := lab.NIC{ENI: e.ID, Device: dev}
	if e.Attachment != nil {
		n.Device = e.Attachment.DeviceIndex
	}
	bits4, bits6 := 32, 128
	if sn := w.subnets[e.Subnet]; sn != nil {
		bits4 = sn.CIDR.Bits()
		if sn.IPv6CIDR.IsValid() {
			bits6 = sn.IPv6CIDR.Bits()
		}
	}
	if len(e.PrivateIPs) > 0 {
		n.IPv4 = netip.PrefixFrom(e.PrivateIPs[0], bits4)
		n.Secondary = slices.Clone(e.PrivateIPs[1:])
	}
	if len(e.IPv6s) > 0 {
		n.IPv6 = netip.PrefixFrom(e.IPv6s[0], bits6)
		n.MoreIPv6 = slices.Clone(e.IPv6s[1:])
	}
	return n
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
