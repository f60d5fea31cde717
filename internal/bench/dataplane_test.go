package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"palisade.dev/palisade/internal/labtest"
	"palisade.dev/palisade/internal/testutil"
)

// TestDataplaneSmoke runs the data-plane benchmark at toy sizes, once,
// with the control (--control): it must complete, clean up and print its
// table. Speed is never asserted.
func TestDataplaneSmoke(t *testing.T) {
	testutil.RequireRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	suffix := labtest.RandHex(6) + "-"
	res, err := RunDataplane(ctx, DataplaneConfig{
		Interfaces: 3, RulesPerInterface: 5, HeavyRules: 30, Members: 20,
		Repeats: 1, Duration: 300 * time.Millisecond, Workers: 2, Samples: 3, CPU: -1,
		RouterPrefix: "ptb" + suffix, BaselinePrefix: "ptz" + suffix, ManyGroups: 2, ManyGroupRules: 10,
		Control: true, Helper: testHelper, Progress: testutil.LogWriter(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := res.WriteTable(&out); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", out.String())
	for _, want := range []string{"new TCP connections/s", "bulk TCP throughput", "rule change → enforced",
		"membership change → enforced", "membership change, kernel commit", "conntrack only (the floor)",
		"many groups / conntrack only, per repeat", "runs, firewall / conntrack only", "targets met",
		"A/A control: conntrack only again / conntrack only", "runs, control, conntrack only again / conntrack only"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q", want)
		}
	}
	if res.Setup.Members != 20 || res.Setup.RouterRules < 3*5+30+2*10 || len(res.RuleChange.SamplesMs) != 3 {
		t.Errorf("setup %+v, %d rule-change samples", res.Setup, len(res.RuleChange.SamplesMs))
	}
	for name, rep := range map[string]TrafficReport{"conntrack-only": res.Floor, "many-groups": res.ManyGroups} {
		if len(rep.ConnPerSec) != 1 || rep.ConnPerSec[0] <= 0 {
			t.Errorf("%s runs: %+v", name, rep)
		}
	}
	if len(res.ManyGroupsConnOverFloor.Runs) != 1 || res.ManyGroupsConnOverFloor.Median <= 0 {
		t.Errorf("many groups over the floor: %+v", res.ManyGroupsConnOverFloor)
	}
	if res.Control == nil || len(res.Control.ConnPerSec) != 1 || res.Control.ConnPerSec[0] <= 0 ||
		res.ControlOverFloor == nil || len(res.ControlOverFloor.Runs) != 1 || res.ControlOverFloor.Median <= 0 {
		t.Errorf("control: %+v over the floor %+v", res.Control, res.ControlOverFloor)
	}
	if _, err := json.Marshal(res); err != nil {
		t.Error(err)
	}
}
