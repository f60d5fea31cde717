package lab

import (
	"fmt"
	"os"
	"slices"
	"testing"

	"github.com/vishvananda/netlink"

	"palisade.dev/palisade/internal/testutil"
)

// TestMain runs the tests in a mount namespace of their own with a fresh
// /run (testutil.IsolateMain: whatever happens, no namespace name is left
// on the machine), and checks that they leave the network namespace they
// run in (the machine's own) exactly as they found it: same interfaces,
// addresses, routes (all tables), rules and the sysctls the lab sets in its
// routers.
func TestMain(m *testing.M) {
	testutil.IsolateMain()
	if os.Geteuid() != 0 {
		os.Exit(m.Run())
	}
	before, err := rootSnapshot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "snapshot of the root namespace:", err)
		os.Exit(1)
	}
	code := m.Run()
	after, err := rootSnapshot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "snapshot of the root namespace:", err)
		os.Exit(1)
	}
	if !slices.Equal(before, after) {
		fmt.Fprintf(os.Stderr, "the tests changed the root namespace:\nbefore:\n%q\nafter:\n%q\n", before, after)
		code = 1
	}
	os.Exit(code)
}

// rootSnapshot describes the current namespace's links, addresses, routes
// and rules, one string each, sorted.
func rootSnapshot() ([]string, error) {
	h, err := netlink.NewHandle()
	if err != nil {
		return nil, err
	}
	defer h.Close()
	var out []string
	links, err := dump(h.LinkList)
	if err != nil {
		return nil, err
	}
	for _, k := range links {
		a := k.Attrs()
		out = append(out, fmt.Sprintf("link %d %s %s mtu %d %s", a.Index, a.Name, k.Type(), a.MTU, a.Flags))
	}
	addrs, err := dump(func() ([]netlink.Addr, error) { return h.AddrList(nil, netlink.FAMILY_ALL) })
	if err != nil {
		return nil, err
	}
	for _, a := range addrs {
		out = append(out, fmt.Sprintf("addr %d %s", a.LinkIndex, a.IPNet))
	}
	routes, err := dump(func() ([]netlink.Route, error) {
		return h.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{}, netlink.RT_FILTER_TABLE)
	})
	if err != nil {
		return nil, err
	}
	for _, r := range routes {
		out = append(out, fmt.Sprintf("route t%d %s via %s dev %d proto %d", r.Table, r.Dst, r.Gw, r.LinkIndex, r.Protocol))
	}
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		rules, err := dump(func() ([]netlink.Rule, error) { return h.RuleList(fam) })
		if err != nil {
			return nil, err
		}
		for _, r := range rules {
			out = append(out, "rule "+r.String())
		}
	}
	for _, key := range rootSysctls {
		v, err := os.ReadFile("/proc/sys/" + key)
		if err != nil {
			return nil, err
		}
		out = append(out, fmt.Sprintf("sysctl %s=%q", key, v))
	}
	slices.Sort(out)
	return out, nil
}

// rootSysctls are the settings the lab writes in its routers; none of them
// may change outside.
var rootSysctls = []string{
	"net/ipv4/ip_forward",
	"net/ipv6/conf/all/forwarding",
	"net/ipv4/conf/all/send_redirects",
	"net/ipv4/conf/default/send_redirects",
	"net/ipv4/conf/all/arp_ignore",
	"net/ipv4/conf/default/arp_ignore",
	"net/ipv4/conf/all/proxy_arp",
	"net/ipv4/neigh/default/proxy_delay",
}
