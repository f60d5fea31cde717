package dataplane

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"

	"palisade.dev/palisade/internal/model"
)

// sysctl is one setting under /proc/sys.
type sysctl struct {
	key   string // e.g. "net/netfilter/nf_conntrack_udp_timeout"
	value uint32
}

// conntrackDefaults make the router namespace's conntrack timeouts AWS's
// defaults (SEMANTICS.md §6), so that only interfaces with other timeouts
// need ct timeout objects (see ctObjects): TCP established and UDP
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
// /proc/sys/net resolves to the namespace of the thread that opens the
// file, so the writes run on a thread that enters ns, never on the
// caller's. That thread stays locked to its goroutine, so the runtime ends
// it when the goroutine returns: no other goroutine ever runs in the
// router's namespace, and nothing is written when entering it fails.
func setSysctls(ns *os.File, settings []sysctl) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: see above
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("enter namespace: %w", err)
			return
		}
		for _, s := range settings {
			v := strconv.FormatUint(uint64(s.value), 10)
			if err := os.WriteFile(filepath.Join("/proc/sys", s.key), []byte(v), 0o644); err != nil {
				done <- fmt.Errorf("sysctl %s=%s: %w", s.key, v, err)
				return
			}
		}
		done <- nil
	}()
	return <-done
}
