package lab

import (
	"fmt"
	"os"
	"path/filepath"
)

// sysctl is one setting under /proc/sys, e.g. {"net/ipv4/ip_forward", "1"}.
type sysctl struct{ key, value string }

// setSysctls writes the settings inside the namespace ns. /proc/sys/net
// resolves to the network namespace of the thread that opens the file, so
// the writes run on a thread inside ns (never /proc/net, which follows the
// process's main thread).
func setSysctls(s *space, settings ...sysctl) error {
	return doIn(s.ns, func() error {
		for _, st := range settings {
			path := filepath.Join("/proc/sys", st.key)
			if err := os.WriteFile(path, []byte(st.value), 0o644); err != nil {
				return fmt.Errorf("sysctl %s=%s in %s: %w", st.key, st.value, s.name, err)
			}
		}
		return nil
	})
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
