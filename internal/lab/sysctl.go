package lab

import "palisade.dev/palisade/internal/nsexec"

// sysctl is one setting under /proc/sys, e.g. {"net/ipv4/ip_forward", "1"}.
type sysctl struct{ key, value string }

// setSysctls writes the settings inside the namespace of s.
func setSysctls(s *space, settings ...sysctl) error {
	out := make([]nsexec.Sysctl, len(settings))
	for i, st := range settings {
		out[i] = nsexec.Sysctl{Key: st.key, Value: st.value}
	}
	return nsexec.SetSysctls(int(s.ns), s.name, out...)
}

// routerSysctls make a namespace a router: forwarding for both families,
// no ICMP redirects (every instance is on its own link, so the router has
// nothing to redirect), and ARP answers for any of its addresses on any
// interface (new namespaces inherit IPv4 settings from the initial one).
var routerSysctls = []sysctl{
	{"net/ipv4/ip_forward", "1"},
	{"net/ipv6/conf/all/forwarding", "1"},
	{"net/ipv4/conf/all/send_redirects", "0"},
	{"net/ipv4/conf/default/send_redirects", "0"},
	{"net/ipv4/conf/all/arp_ignore", "0"},
	{"net/ipv4/conf/default/arp_ignore", "0"},
}

// proxyARPSysctls turn on proxy ARP on the router-side interface ifName and
// answer at once: by default a proxied ARP reply to a broadcast request waits
// a random time up to 0.8 s.
func proxyARPSysctls(ifName string) []sysctl {
	return []sysctl{
		{"net/ipv4/conf/" + ifName + "/proxy_arp", "1"},
		{"net/ipv4/neigh/" + ifName + "/proxy_delay", "0"},
	}
}
