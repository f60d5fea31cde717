package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"palisade.dev/palisade/internal/testutil"
)

// TestCluster runs the fan-out benchmark at a small size against a real
// three-member etcd: every host's agent converges on every change (a
// change that some host never applied fails the run), and the report
// holds a sample per change and the members' memory. No timing is
// asserted.
func TestCluster(t *testing.T) {
	ec := testutil.StartEtcd(t, 3)
	cfg := DefaultClusterConfig()
	cfg.Hosts, cfg.Repeats, cfg.Changes, cfg.Clients = 20, 1, 3, 2
	cfg.EtcdEndpoints = ec.Endpoints
	for i := range ec.Endpoints {
		cfg.EtcdPIDs = append(cfg.EtcdPIDs, ec.Pid(t, i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := RunCluster(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for name, l := range map[string]ClusterLatency{"rule": res.RuleChange, "membership": res.MemberChange} {
		if len(l.SamplesMs) != 3 || len(l.RepeatP99Ms) != 1 {
			t.Errorf("%s changes: %d samples over %d repeats, want 3 over 1", name, len(l.SamplesMs), len(l.RepeatP99Ms))
		}
	}
	if len(res.EtcdRSSMiB) != 3 || res.EtcdRSSMiB[0] <= 0 || res.AgentHeapKiB <= 0 {
		t.Errorf("memory: etcd members %v MiB, agent %v KiB; want three members and an agent's heap", res.EtcdRSSMiB, res.AgentHeapKiB)
	}
	var table bytes.Buffer
	if err := res.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"20 simulated hosts", "rule in the group on every host", "interface leaves/joins", "Cilium"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	if _, err := json.Marshal(res); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", table.String())
}
