package service_test

import (
	"slices"
	"testing"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/service"
)

func TestInstanceStatusRebootAndStateReasons(t *testing.T) {
	f := newFixture(t)
	res := f.run(bob, service.RunInstancesInput{MinCount: p32(2), MaxCount: p32(2)})
	a, b := res.Instances[0].ID, res.Instances[1].ID
	if r := res.Instances[0].StateReason; r == nil || r.Code != "pending" {
		t.Errorf("RunInstances' stateReason: %+v", r)
	}
	if _, err := f.StopInstances(ctx, bob, []string{string(b)}); err != nil {
		t.Fatal(err)
	}
	// Running: no reason; stopped: a user-initiated shutdown at its time.
	if v := f.describeInstance(bob, a); v.StateReason != nil || v.StateTransitionReason != "" {
		t.Errorf("running instance: %q %+v", v.StateTransitionReason, v.StateReason)
	}
	v := f.describeInstance(bob, b)
	if v.StateTransitionReason != "User initiated (2026-11-25 12:00:00 GMT)" || v.StateReason == nil ||
		*v.StateReason != (service.StateReason{Code: "Client.UserInitiatedShutdown", Message: "Client.UserInitiatedShutdown: User initiated shutdown"}) {
		t.Errorf("stopped instance: %q %+v", v.StateTransitionReason, v.StateReason)
	}

	// Only running instances by default; all with IncludeAll.
	st, _, err := f.DescribeInstanceStatus(ctx, bob, service.DescribeInstanceStatusInput{})
	if err != nil || len(st) != 1 || st[0] != (service.InstanceStatus{ID: a, Zone: "us-east-1a", State: model.StateRunning, Status: "ok", Reachability: "passed"}) {
		t.Fatalf("statuses: %+v %v", st, err)
	}
	st, _, err = f.DescribeInstanceStatus(ctx, bob, service.DescribeInstanceStatusInput{IDs: []string{string(b)}, IncludeAll: true})
	if err != nil || len(st) != 1 || st[0].Status != "not-applicable" || st[0].Reachability != "" {
		t.Fatalf("stopped status: %+v %v", st, err)
	}
	st, _, err = f.DescribeInstanceStatus(ctx, bob, service.DescribeInstanceStatusInput{IncludeAll: true,
		Filters: []service.Filter{{Name: "instance-status.status", Values: []string{"ok"}}}})
	if err != nil || len(st) != 1 || st[0].ID != a {
		t.Fatalf("filtered statuses: %+v %v", st, err)
	}
	_, _, err = f.DescribeInstanceStatus(ctx, bob, service.DescribeInstanceStatusInput{IDs: []string{"i-0123456789abcdef0"}})
	wantErr(t, err, model.CodeInvalidInstanceIDNotFound, "i-0123456789abcdef0")
	_, _, err = f.DescribeInstanceStatus(ctx, bob, service.DescribeInstanceStatusInput{Filters: []service.Filter{{Name: "bogus", Values: []string{"x"}}}})
	wantErr(t, err, model.CodeInvalidParameterValue, "The filter 'bogus' is invalid")

	// Rebooting changes nothing; a stopped instance cannot be.
	if err := f.RebootInstances(ctx, bob, []string{string(a)}); err != nil {
		t.Fatal(err)
	}
	if v := f.describeInstance(bob, a); v.State != model.StateRunning {
		t.Errorf("after reboot: %s", v.State)
	}
	wantErr(t, f.RebootInstances(ctx, bob, []string{string(b)}), model.CodeIncorrectState, "rebooted")
	wantErr(t, f.RebootInstances(ctx, bob, []string{"i-0123456789abcdef0"}), model.CodeInvalidInstanceIDNotFound, "")
	wantErr(t, f.RebootInstances(ctx, bob, nil), model.CodeMissingParameter, "InstanceId")

	// DescribeInstances' filters of these facts.
	for _, c := range []struct {
		name, value string
		want        []model.InstanceID
	}{
		{"state-reason-code", "Client.UserInitiatedShutdown", []model.InstanceID{b}},
		{"reason", "User initiated*", []model.InstanceID{b}},
		{"source-dest-check", "true", []model.InstanceID{a, b}},
		{"architecture", "x86_64", []model.InstanceID{a, b}},
		{"architecture", "arm64", nil},
		{"key-name", "*", nil},
		{"availability-zone-id", "use1-az1", []model.InstanceID{a, b}},
		{"launch-time", "2026-11-25T*", []model.InstanceID{a, b}},
		{"network-interface.status", "in-use", []model.InstanceID{a, b}},
	} {
		rs, _, err := f.DescribeInstances(ctx, bob, service.DescribeInstancesInput{Filters: []service.Filter{{Name: c.name, Values: []string{c.value}}}})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var got []model.InstanceID
		for _, r := range rs {
			for _, v := range r.Instances {
				got = append(got, v.ID)
			}
		}
		slices.Sort(got)
		slices.Sort(c.want)
		if !slices.Equal(got, c.want) {
			t.Errorf("%s=%s: %v, want %v", c.name, c.value, got, c.want)
		}
	}
}
