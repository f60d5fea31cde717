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

// world is the agent's copy of the store's resources, kept current from the
// watch. Reconcile derives everything from it (level-triggered); dirty says
// which VPCs changed since the last reconcile, so that a change costs the
// compile of its own VPC only.
type world struct {
	vpcs      map[model.VpcID]*model.VPC
	subnets   map[model.SubnetID]*model.Subnet
	groups    map[model.GroupID]*model.SecurityGroup
	enis      map[model.ENIID]*model.ENI
	instances map[model.InstanceID]*model.Instance
	lists     map[model.PrefixListID]*model.PrefixList
	hosts     map[string]*model.LabHost

	dirty    map[model.VpcID]bool
	allDirty bool // a prefix list changed: it may be referenced anywhere in its scope
}

func newWorld() *world {
	return &world{
		vpcs:      map[model.VpcID]*model.VPC{},
		subnets:   map[model.SubnetID]*model.Subnet{},
		groups:    map[model.GroupID]*model.SecurityGroup{},
		enis:      map[model.ENIID]*model.ENI{},
		instances: map[model.InstanceID]*model.Instance{},
		lists:     map[model.PrefixListID]*model.PrefixList{},
		hosts:     map[string]*model.LabHost{},
		dirty:     map[model.VpcID]bool{},
	}
}

// apply records one key's new value (nil: deleted) and marks the VPCs it
// concerns, before and after, dirty. Keys that are not resources are
// ignored.
func (w *world) apply(key string, value []byte) error {
	_, kind, id, ok := model.ParseResourceKey(key)
	if !ok {
		return nil
	}
	switch kind {
	case model.KeyVPC:
		return set(w, w.vpcs, model.VpcID(id), value, func(v *model.VPC) model.VpcID { return v.ID })
	case model.KeySubnet:
		return set(w, w.subnets, model.SubnetID(id), value, func(v *model.Subnet) model.VpcID { return v.VPC })
	case model.KeyGroup:
		return set(w, w.groups, model.GroupID(id), value, func(v *model.SecurityGroup) model.VpcID { return v.VPC })
	case model.KeyENI:
		return set(w, w.enis, model.ENIID(id), value, func(v *model.ENI) model.VpcID { return v.VPC })
	case model.KeyInstance:
		return set(w, w.instances, model.InstanceID(id), value, func(v *model.Instance) model.VpcID { return v.VPC })
	case model.KeyPrefixList:
		w.allDirty = true
		return set(w, w.lists, model.PrefixListID(id), value, func(*model.PrefixList) model.VpcID { return "" })
	case model.KeyLabHost:
		return set(w, w.hosts, id, value, func(v *model.LabHost) model.VpcID { return v.VPC })
	}
	return nil
}

func set[K comparable, V any](w *world, m map[K]*V, k K, value []byte, vpc func(*V) model.VpcID) error {
	if old := m[k]; old != nil {
		w.dirty[vpc(old)] = true
	}
	if value == nil {
		delete(m, k)
		return nil
	}
	v := new(V)
	if err := json.Unmarshal(value, v); err != nil {
		return fmt.Errorf("decode %v: %w", k, err)
	}
	m[k] = v
	w.dirty[vpc(v)] = true
	return nil
}

// changed returns the VPCs changed since the last call (all: every one).
func (w *world) changed() (dirty map[model.VpcID]bool, all bool) {
	dirty, all = w.dirty, w.allDirty
	w.dirty, w.allDirty = map[model.VpcID]bool{}, false
	return dirty, all
}

// running reports whether an instance has a network: pending and running
// instances do; stopped, stopping and terminated ones do not.
func running(i *model.Instance) bool {
	return i.State == model.StatePending || i.State == model.StateRunning
}

// vpcView is what one VPC needs: its lab wiring and its policy input.
type vpcView struct {
	vpc       *model.VPC
	instances []lab.Instance
	hosts     []lab.Host
	snapshot  policy.Snapshot
	ports     []model.ENIID // ENIs attached to running instances, enforced
}

// views splits the world by VPC, in VPC ID order.
func (w *world) views() []*vpcView {
	byVPC := map[model.VpcID]*vpcView{}
	var order []model.VpcID
	for id, v := range w.vpcs {
		byVPC[id] = &vpcView{vpc: v}
		order = append(order, id)
	}
	slices.Sort(order)
	for _, g := range w.groups {
		if v := byVPC[g.VPC]; v != nil {
			v.snapshot.Groups = append(v.snapshot.Groups, *g)
		}
	}
	for _, e := range w.enis {
		if v := byVPC[e.VPC]; v != nil {
			v.snapshot.ENIs = append(v.snapshot.ENIs, *e)
		}
	}
	for _, pl := range w.lists {
		for _, v := range byVPC {
			if v.vpc.Scope == pl.Scope {
				v.snapshot.PrefixLists = append(v.snapshot.PrefixLists, *pl)
			}
		}
	}
	for _, i := range w.instances {
		v := byVPC[i.VPC]
		if v == nil || !running(i) {
			continue
		}
		li := lab.Instance{ID: string(i.ID), VPC: string(i.VPC)}
		for dev, eid := range i.ENIs {
			e := w.enis[eid]
			if e == nil || len(e.PrivateIPs) == 0 {
				continue
			}
			li.NICs = append(li.NICs, w.nic(e, dev))
			v.ports = append(v.ports, eid)
		}
		if len(li.NICs) > 0 {
			v.instances = append(v.instances, li)
		}
	}
	for _, h := range w.hosts {
		if v := byVPC[h.VPC]; v != nil {
			v.hosts = append(v.hosts, lab.Host{Name: h.Name, VPC: string(h.VPC), IPv4: h.IPv4, IPv6: h.IPv6})
		}
	}
	out := make([]*vpcView, 0, len(order))
	for _, id := range order {
		v := byVPC[id]
		slices.SortFunc(v.instances, func(a, b lab.Instance) int { return cmpStr(a.ID, b.ID) })
		slices.SortFunc(v.hosts, func(a, b lab.Host) int { return cmpStr(a.Name, b.Name) })
		slices.Sort(v.ports)
		v.snapshot.Only = make(map[model.ENIID]bool, len(v.ports))
		for _, id := range v.ports {
			v.snapshot.Only[id] = true
		}
		out = append(out, v)
	}
	return out
}

// Input is one VPC's firewall input as the agent derives it from the
// store: the policy input, the interfaces it enforces (those of running
// instances) and the router-side interfaces of its lab hosts.
type Input struct {
	Snapshot   policy.Snapshot
	Ports      []model.ENIID
	HostIfaces []string
}

func (v *vpcView) input() *Input {
	in := &Input{Snapshot: v.snapshot, Ports: v.ports}
	for _, h := range v.hosts {
		in.HostIfaces = append(in.HostIfaces, lab.HostIfName(h.Name))
	}
	return in
}

// Desired is the firewall content of the input, compiled as c.
func (in *Input) Desired(c *policy.Compiled) dataplane.Desired {
	d := dataplane.Desired{HostIfaces: in.HostIfaces}
	for _, eni := range in.Ports {
		if p := c.Policy(eni); p != nil {
			d.Ports = append(d.Ports, dataplane.Port{ENI: eni, IfName: lab.RouterIfName(string(eni)), Policy: p})
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
	w := newWorld()
	for _, kv := range page.KVs {
		if err := w.apply(kv.Key, kv.Value); err != nil {
			return nil, err
		}
	}
	for _, v := range w.views() {
		if v.vpc.ID == vpc {
			return v.input(), nil
		}
	}
	return nil, fmt.Errorf("%s is not in the store", vpc)
}

// nic is the lab wiring of one interface: its primary addresses with the
// prefix length of its subnet.
func (w *world) nic(e *model.ENI, dev int) lab.NIC {
	n := lab.NIC{ENI: string(e.ID), Device: dev}
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
	n.IPv4 = netip.PrefixFrom(e.PrivateIPs[0], bits4)
	if len(e.IPv6s) > 0 {
		n.IPv6 = netip.PrefixFrom(e.IPv6s[0], bits6)
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
