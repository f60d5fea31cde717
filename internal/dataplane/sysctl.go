package dataplane

import (
	"os"
	"strconv"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/nsexec"
)

// sysctl is one setting under /proc/sys.
type sysctl struct {
	key   string // e.g. "net/netfilter/nf_conntrack_udp_timeout"
	value uint32
}

// conntrackDefaults make the router namespace's conntrack timeouts AWS's
// defaults (docs/aws-semantics.md#connection-tracking), so that only interfaces with other timeouts
// need ct timeout objects (see ctTimeoutObjects): TCP established and UDP
// unreplied are Linux's defaults already, UDP replied ("UDP stream") is
// 120 s in Linux and 180 s on AWS. The other states of TCP keep Linux's
// defaults, as in the objects. They are settings of the namespace, so they
// go with it (lab down) and hold for a table adopted after a restart.
func conntrackDefaults() []sysctl {
	d := model.DefaultConntrackTimeouts
	return []sysctl{
		{"net/netfilter/nf_conntrack_tcp_timeout_established", d.TCPEstablished},
		{"net/netfilter/nf_conntrack_udp_timeout", d.UDP},
		{"net/netfilter/nf_conntrack_udp_timeout_stream", d.UDPStream},
	}
}

// setSysctls writes the settings inside the network namespace ns.
func setSysctls(ns *os.File, settings []sysctl) error {
	out := make([]nsexec.Sysctl, len(settings))
	for i, s := range settings {
		out[i] = nsexec.Sysctl{Key: s.key, Value: strconv.FormatUint(uint64(s.value), 10)}
	}
	return nsexec.SetSysctls(int(ns.Fd()), ns.Name(), out...)
}
