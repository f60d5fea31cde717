package dataplane

import (
	"fmt"
	"net/netip"
	"testing"

	"palisade.dev/palisade/internal/lab"
	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/policy"
	"palisade.dev/palisade/internal/testutil"
)

// A testVPC is a lab VPC (a router namespace holding Palisade's table) with
// instances and lab hosts made by internal/lab, all in namespaces with
// unique names that the test removes when it ends, even on failure.
type testVPC struct {
	t     testing.TB
	lab   *lab.Lab
	vpc   string
	tbl   *Table
	nodes []*node
	seq   int
	// compiled is what the last apply compiled; groups its input.
	compiled *policy.Compiled
	groups   []model.SecurityGroup
}

// node is an instance (one network interface) or a lab host.
type node struct {
	ns     string      // its namespace
	eni    model.ENIID // "" for a lab host
	ifName string      // the router side of its veth
	v4, v6 netip.Addr
	groups []model.GroupID
	// detached leaves an instance out of the Desired state, as if the
	// agent did not know it yet.
	detached bool
}

func (n *node) addr(v6 bool) netip.Addr {
	if v6 {
		return n.v6
	}
	return n.v4
}

// newTestVPC makes the router and opens the table before any instance
// exists, as the agent does (fail closed from the first interface on).
func newTestVPC(t testing.TB) *testVPC {
	t.Helper()
	testutil.RequireRoot(t)
	l, err := lab.New(lab.Config{RouterPrefix: "pdp" + randHex(6) + "-"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Down(); err != nil {
			t.Errorf("lab down: %v", err)
		}
	})
	w := &testVPC{t: t, lab: l, vpc: "vpc-" + randHex(17)}
	if err := l.EnsureVPC(model.VpcID(w.vpc)); err != nil {
		t.Fatal(err)
	}
	w.tbl = openTable(t, l.RouterNamespace(model.VpcID(w.vpc)))
	return w
}

func (w *testVPC) router() string { return w.lab.RouterNamespace(model.VpcID(w.vpc)) }

// instance makes an instance with one interface: v4 with its subnet's
// prefix ("10.0.1.10/24"), v6 optional ("" for none).
func (w *testVPC) instance(v4, v6 string, groups ...model.GroupID) *node {
	w.t.Helper()
	w.seq++
	eni := model.ENIID(fmt.Sprintf("eni-%017x", w.seq))
	nic := lab.NIC{ENI: model.ENIID(eni), IPv4: netip.MustParsePrefix(v4)}
	n := &node{ns: "i-" + randHex(17), eni: eni, ifName: lab.RouterIfName(model.ENIID(eni)), v4: nic.IPv4.Addr(), groups: groups}
	if v6 != "" {
		nic.IPv6 = netip.MustParsePrefix(v6)
		n.v6 = nic.IPv6.Addr()
	}
	if err := w.lab.EnsureInstance(lab.Instance{ID: model.InstanceID(n.ns), VPC: model.VpcID(w.vpc), NICs: []lab.NIC{nic}}); err != nil {
		w.t.Fatal(err)
	}
	w.nodes = append(w.nodes, n)
	return n
}

// host makes a lab host ("an outside computer").
func (w *testVPC) host(v4, v6 string) *node {
	w.t.Helper()
	h := lab.Host{Name: "pdh-" + randHex(8), VPC: model.VpcID(w.vpc), IPv4: netip.MustParseAddr(v4)}
	if v6 != "" {
		h.IPv6 = netip.MustParseAddr(v6)
	}
	if err := w.lab.EnsureHost(h); err != nil {
		w.t.Fatal(err)
	}
	n := &node{ns: h.Name, ifName: lab.HostIfName(h.Name), v4: h.IPv4, v6: h.IPv6}
	w.nodes = append(w.nodes, n)
	return n
}

// snapshot is the store's view: w.groups and every attached instance.
func (w *testVPC) snapshot() policy.Snapshot {
	s := policy.Snapshot{Groups: w.groups}
	for _, n := range w.nodes {
		if n.eni == "" || n.detached {
			continue
		}
		e := model.ENI{ID: n.eni, VPC: model.VpcID(w.vpc), Groups: n.groups, PrivateIPs: []netip.Addr{n.v4}}
		if n.v6.IsValid() {
			e.IPv6s = []netip.Addr{n.v6}
		}
		s.ENIs = append(s.ENIs, e)
	}
	return s
}

// desired compiles the snapshot and returns what the router must enforce.
func (w *testVPC) desired() Desired {
	w.compiled = policy.Compile(w.snapshot())
	var d Desired
	for _, n := range w.nodes {
		switch {
		case n.eni == "":
			d.HostIfaces = append(d.HostIfaces, n.ifName)
		case !n.detached:
			d.Ports = append(d.Ports, w.port(n))
		}
	}
	return d
}

// port is n's port in the last compilation.
func (w *testVPC) port(n *node) Port {
	return Port{ENI: n.eni, IfName: n.ifName, Policy: w.compiled.Policy(n.eni)}
}

// apply sets the groups and applies the VPC.
func (w *testVPC) apply(groups ...model.SecurityGroup) Result {
	w.t.Helper()
	if groups != nil {
		w.groups = groups
	}
	return mustApply(w.t, w.tbl, w.desired())
}
