package ec2api

import (
	"context"
	"encoding/json"
	"net/netip"
	"testing"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/store"
	"palisade.dev/palisade/internal/store/mem"
)

// TestGoldenHosts: a host an agent registered (written here with fixed
// values, as hosts.Register writes it), an instance placed on it by
// Placement.HostId, DescribeHosts and the instance's placement.
func TestGoldenHosts(t *testing.T) {
	ctx := context.Background()
	st := mem.New(mem.Options{})
	t.Cleanup(func() { st.Close() })
	h := model.Host{ID: "h-0123456789abcdef0", Name: "alpha", Underlay: netip.MustParseAddr("192.0.2.1"), Registered: apiClock}
	b, _ := json.Marshal(h)
	if _, err := st.Txn(ctx, func(tx store.Tx) error { return tx.Put(model.HostKey("alpha"), b) }); err != nil {
		t.Fatal(err)
	}
	lease, err := st.Grant(ctx, store.MinLeaseTTL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lease.Put(ctx, model.HostAliveKey("alpha"), []byte(h.ID)); err != nil {
		t.Fatal(err)
	}
	hh := newAPIHarnessOn(t, st)
	body := hh.ok("RunInstances", "ImageId", "lab", "MinCount", "1", "MaxCount", "1", "Placement.HostId", string(h.ID))
	goldenXML(t, "RunInstances_host", body)
	goldenXML(t, "DescribeHosts", hh.ok("DescribeHosts"))
	hh.fails("InvalidHostID.NotFound", "DescribeHosts", "HostId.1", "h-00000000000000000")
	hh.fails("InvalidHostId.Malformed", "RunInstances", "ImageId", "lab", "MinCount", "1", "MaxCount", "1", "Placement.HostId", "alpha")
	if err := lease.Revoke(ctx); err != nil {
		t.Fatal(err)
	}
	goldenXML(t, "DescribeHosts_underAssessment", hh.ok("DescribeHosts", "Filter.1.Name", "state", "Filter.1.Value.1", "under-assessment"))
}
