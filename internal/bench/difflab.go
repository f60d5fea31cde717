package bench

import (
	crand "crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"path/filepath"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"palisade.dev/palisade/internal/dataplane"
	"palisade.dev/palisade/internal/lab"
	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/policy"
)

// benchAccount and benchScope own what the differential test compiles.
const benchAccount = model.AccountID("123456789012")

var benchScope = model.Scope{Account: benchAccount, Region: "us-east-1"}

// randHex returns n random lower-case hex digits: the IDs of everything a
// run makes, so that runs (and the namespaces named after instance IDs)
// never collide.
func randHex(n int) string {
	b := make([]byte, (n+1)/2)
	crand.Read(b)
	return hex.EncodeToString(b)[:n]
}

// end is an endpoint the differential test sends from and to: one
// interface of an instance, or a lab host.
type end struct {
	name   string      // for people: "i-…/eth1" or "host pbh-…"
	eni    model.ENIID // "" for a lab host
	v4, v6 netip.Addr  // v6 may be zero
	tap    *tap
}

func (e *end) addr(v6 bool) netip.Addr {
	if v6 {
		return e.v6
	}
	return e.v4
}

func (e *end) endpoint(a netip.Addr) policy.Endpoint { return policy.Endpoint{ENI: e.eni, Addr: a} }

// diffLab is the differential test's lab: one VPC router holding
// Palisade's table, instances with several interfaces, lab hosts, and
// interfaces that exist only in the policy (members of groups that never
// send).
type diffLab struct {
	lab    *lab.Lab
	vpc    model.VpcID
	router string // the router's namespace
	table  *dataplane.Table
	ends   []*end
	hosts  []string    // lab hosts' router-side interfaces
	enis   []model.ENI // every interface of the policy, without groups
	gen    *ruleGen
}

// Addressing of the lab: two subnets per family, lab hosts outside.
var (
	subnets4 = []netip.Prefix{netip.MustParsePrefix("10.77.1.0/24"), netip.MustParsePrefix("10.77.2.0/24")}
	subnets6 = []netip.Prefix{netip.MustParsePrefix("fd77:77:0:1::/64"), netip.MustParsePrefix("fd77:77:0:2::/64")}
	hosts4   = []netip.Addr{netip.MustParseAddr("203.0.113.7"), netip.MustParseAddr("198.51.100.42")}
	hosts6   = []netip.Addr{netip.MustParseAddr("2001:db8:77::7"), {}}
)

// labSize says how many instances, interfaces per instance and
// policy-only interfaces the lab has.
type labSize struct {
	instances, maxNICs, ghosts int
}

var defaultLabSize = labSize{instances: 4, maxNICs: 3, ghosts: 4}

// newDiffLab builds the lab: the router and its table first (fail
// closed), then instances and hosts, then a tap on every interface.
func newDiffLab(l *lab.Lab, rng *rand.Rand, size labSize, log *slog.Logger) (_ *diffLab, err error) {
	w := &diffLab{lab: l, vpc: model.VpcID("vpc-" + randHex(17))}
	defer func() {
		if err != nil {
			w.Close()
		}
	}()
	if err := l.EnsureVPC(model.VpcID(w.vpc)); err != nil {
		return nil, err
	}
	w.router = l.RouterNamespace(model.VpcID(w.vpc))
	if w.table, err = dataplane.Open(filepath.Join("/run/netns", w.router), log); err != nil {
		return nil, err
	}
	alloc := newAllocator(rng)
	for range size.instances {
		if err := w.addInstance(rng, alloc, 1+rng.IntN(size.maxNICs)); err != nil {
			return nil, err
		}
	}
	for i := range hosts4 {
		if err := w.addHost(hosts4[i], hosts6[i]); err != nil {
			return nil, err
		}
	}
	for range size.ghosts {
		sn := rng.IntN(len(subnets4))
		w.enis = append(w.enis, w.eni(model.ENIID("eni-"+randHex(17)), alloc.next(subnets4[sn]), alloc.next(subnets6[sn])))
	}
	w.gen = w.ruleGen(rng)
	return w, nil
}

func (w *diffLab) eni(id model.ENIID, v4, v6 netip.Addr) model.ENI {
	e := model.ENI{Scope: benchScope, ID: id, VPC: w.vpc, PrivateIPs: []netip.Addr{v4}}
	if v6.IsValid() {
		e.IPv6s = []netip.Addr{v6}
	}
	return e
}

// addInstance wires an instance with nics interfaces, each in a random
// subnet, most with an IPv6 address.
func (w *diffLab) addInstance(rng *rand.Rand, alloc *allocator, nics int) error {
	inst := lab.Instance{ID: model.InstanceID("i-" + randHex(17)), VPC: model.VpcID(w.vpc)}
	for d := range nics {
		sn := rng.IntN(len(subnets4))
		nic := lab.NIC{ENI: model.ENIID("eni-" + randHex(17)), Device: d,
			IPv4: netip.PrefixFrom(alloc.next(subnets4[sn]), subnets4[sn].Bits())}
		if rng.IntN(5) > 0 {
			nic.IPv6 = netip.PrefixFrom(alloc.next(subnets6[sn]), subnets6[sn].Bits())
		}
		inst.NICs = append(inst.NICs, nic)
	}
	if err := w.lab.EnsureInstance(inst); err != nil {
		return err
	}
	for _, nic := range inst.NICs {
		dev := fmt.Sprintf("eth%d", nic.Device)
		t, err := openTap(string(inst.ID), dev, w.router, lab.RouterIfName(nic.ENI))
		if err != nil {
			return err
		}
		e := &end{name: string(inst.ID) + "/" + dev, eni: model.ENIID(nic.ENI), v4: nic.IPv4.Addr(), v6: nic.IPv6.Addr(), tap: t}
		w.ends = append(w.ends, e)
		w.enis = append(w.enis, w.eni(e.eni, e.v4, e.v6))
	}
	return nil
}

// addHost wires a lab host ("an outside computer").
func (w *diffLab) addHost(v4, v6 netip.Addr) error {
	h := lab.Host{Name: "pbh-" + randHex(8), VPC: model.VpcID(w.vpc), IPv4: v4, IPv6: v6}
	if err := w.lab.EnsureHost(h); err != nil {
		return err
	}
	t, err := openTap(h.Name, "eth0", w.router, lab.HostIfName(h.Name))
	if err != nil {
		return err
	}
	w.ends = append(w.ends, &end{name: "host " + h.Name, v4: v4, v6: v6, tap: t})
	w.hosts = append(w.hosts, lab.HostIfName(h.Name))
	return nil
}

// ruleGen returns the world's rule generator: six groups, two prefix
// lists, and CIDRs cut around every address of the world.
func (w *diffLab) ruleGen(rng *rand.Rand) *ruleGen {
	g := &ruleGen{rng: rng, lists: []model.PrefixListID{
		model.PrefixListID("pl-" + randHex(17)), model.PrefixListID("pl-" + randHex(17))}}
	for range 6 {
		g.groups = append(g.groups, model.GroupID("sg-"+randHex(17)))
	}
	for _, e := range w.enis {
		g.addrs4 = append(g.addrs4, e.PrivateIPs...)
		g.addrs6 = append(g.addrs6, e.IPv6s...)
	}
	g.addrs4 = append(g.addrs4, hosts4...)
	g.addrs4 = append(g.addrs4, netip.MustParseAddr("10.77.200.1"), netip.MustParseAddr("192.0.2.1"))
	g.addrs6 = append(g.addrs6, hosts6[0], netip.MustParseAddr("fd77:77:0:ff::1"), netip.MustParseAddr("2001:db8:1::1"))
	return g
}

// apply compiles s and makes the router's table enforce it.
func (w *diffLab) apply(s policy.Snapshot) (*policy.Compiled, dataplane.Result, error) {
	c := policy.Compile(s)
	d := dataplane.Desired{HostIfaces: w.hosts}
	for _, e := range w.ends {
		if e.eni != "" {
			d.Ports = append(d.Ports, dataplane.Port{ENI: e.eni, IfName: lab.RouterIfName(model.ENIID(e.eni)), Policy: c.Policy(e.eni)})
		}
	}
	res, err := w.table.Apply(d)
	return c, res, err
}

// flushConntrack forgets every flow the router tracks, so that no probe
// can ride on the entry of an earlier one.
func (w *diffLab) flushConntrack() error { return flushConntrackIn(w.router) }

// flushConntrackIn forgets every flow the namespace router tracks.
func flushConntrackIn(router string) error {
	ns, err := netns.GetFromName(router)
	if err != nil {
		return err
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_NETFILTER)
	if err != nil {
		return err
	}
	defer h.Close()
	if err := h.ConntrackTableFlush(netlink.ConntrackTable); err != nil {
		return fmt.Errorf("flush conntrack in %s: %w", router, err)
	}
	return nil
}

// Close closes the taps and the table's socket; the namespaces are the
// lab's to remove.
func (w *diffLab) Close() {
	for _, e := range w.ends {
		e.tap.Close()
	}
	if w.table != nil {
		w.table.Close()
	}
}

// allocator hands out distinct random host addresses of subnets.
type allocator struct {
	rng  *rand.Rand
	used map[netip.Addr]bool
}

func newAllocator(rng *rand.Rand) *allocator {
	return &allocator{rng: rng, used: map[netip.Addr]bool{}}
}

// next returns a free address of p away from its first and last few (the
// gateway and AWS's reserved addresses).
func (a *allocator) next(p netip.Prefix) netip.Addr {
	for {
		b := p.Addr().AsSlice()
		last := len(b) - 1
		b[last] = byte(10 + a.rng.IntN(230))
		if p.Addr().Is6() {
			b[last-1] = byte(a.rng.IntN(256))
		}
		addr, _ := netip.AddrFromSlice(b)
		if !a.used[addr] {
			a.used[addr] = true
			return addr
		}
	}
}
