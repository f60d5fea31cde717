package nsexec

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vishvananda/netns"

	"palisade.dev/palisade/internal/testutil"
)

// TestIn: fn runs in the namespace (only a loopback interface, its own
// sysctls), the caller's namespace is untouched, and a panic reaches the
// caller.
func TestIn(t *testing.T) {
	testutil.RequireRoot(t)
	host, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	var ns netns.NsHandle
	if err := OnThread(func() error {
		ns, err = netns.New() // unnamed: gone when the handle closes
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ns.Close()

	var names []string
	if err := In(int(ns), func() error {
		ifs, err := net.Interfaces()
		for _, i := range ifs {
			names = append(names, i.Name)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(names, ",") != "lo" {
		t.Errorf("interfaces inside the namespace: %v, want only lo", names)
	}
	if err := SetSysctls(int(ns), "test", Sysctl{"net/ipv4/ip_forward", "1"}); err != nil {
		t.Fatal(err)
	}
	var inside string
	if err := In(int(ns), func() error {
		b, err := os.ReadFile(filepath.Join("/proc/sys/net/ipv4/ip_forward"))
		inside = strings.TrimSpace(string(b))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if inside != "1" {
		t.Errorf("ip_forward inside = %q after SetSysctls", inside)
	}
	if now, _ := netns.Get(); !now.Equal(host) {
		t.Error("the caller's thread left its namespace")
	}
	defer func() {
		if p := recover(); p != "boom" {
			t.Errorf("recovered %v, want the panic of fn", p)
		}
	}()
	In(int(ns), func() error { panic("boom") })
}
