package service_test

import (
	"strings"
	"testing"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/service"
	"palisade.dev/palisade/internal/store"
	"palisade.dev/palisade/internal/store/mem"
)

var carol = service.Caller{Account: "333333333333", Region: "us-east-1"}

// hostOf returns where the instance runs, as DescribeInstances says.
func (f *wiringFixture) hostOf(c service.Caller, id model.InstanceID) model.HostID {
	f.t.Helper()
	return f.describeInstance(c, id).Host
}

// RunInstances places instances on the available host with the fewest
// (the first by name on a tie), or on Placement.HostId; with no available
// host it is InsufficientInstanceCapacity.
func TestPlacement(t *testing.T) {
	f := newWiringFixture(t) // h1
	h1 := f.describeHost(bob, "h1")
	h2, _ := f.register("h2")
	first := f.run(bob, service.RunInstancesInput{}).Instances[0]
	if first.Host != h1.ID || f.hostOf(bob, first.ID) != h1.ID || first.Tenancy != "default" {
		t.Fatalf("first instance on %q (tenancy %s), want h1 %s", first.Host, first.Tenancy, h1.ID)
	}
	second := f.run(carol, service.RunInstancesInput{}).Instances[0] // counts are across accounts
	if second.Host != h2.ID {
		t.Fatalf("second instance on %q, want h2 %s", second.Host, h2.ID)
	}
	asked := f.run(bob, service.RunInstancesInput{HostID: string(h2.ID), MinCount: p32(2), MaxCount: p32(2)})
	for _, v := range asked.Instances {
		if v.Host != h2.ID || f.describeInstance(bob, v.ID).Tenancy != "host" {
			t.Fatalf("instance asked on h2 is on %q, tenancy %s", v.Host, v.Tenancy)
		}
	}
	if v := f.run(bob, service.RunInstancesInput{}).Instances[0]; v.Host != h1.ID { // h1 1, h2 3
		t.Fatalf("fourth launch on %q, want h1", v.Host)
	}
	for filter, want := range map[string]int{"host-id=" + string(h2.ID): 2, "tenancy=host": 2, "placement-tenancy=default": 2} {
		name, value, _ := strings.Cut(filter, "=")
		rs, _, err := f.DescribeInstances(ctx, bob, service.DescribeInstancesInput{Filters: []service.Filter{{Name: name, Values: []string{value}}}})
		if n := countInstances(rs); err != nil || n != want {
			t.Errorf("bob's instances with %s: %d, %v; want %d", filter, n, err, want)
		}
	}
	if _, err := f.TerminateInstances(ctx, bob, []string{string(asked.Instances[0].ID), string(asked.Instances[1].ID)}); err != nil {
		t.Fatal(err)
	}
	if v := f.run(bob, service.RunInstancesInput{}).Instances[0]; v.Host != h2.ID { // h1 2, h2 1
		t.Fatalf("launch after terminations on %q, want h2", v.Host)
	}

	_, err := f.RunInstances(ctx, bob, service.RunInstancesInput{ImageID: "lab", MinCount: p32(1), MaxCount: p32(1), HostID: "h-0123456789abcdef0"})
	wantErr(t, err, model.CodeInvalidHostIDNotFound, "h-0123456789abcdef0")
	_, err = f.RunInstances(ctx, bob, service.RunInstancesInput{ImageID: "lab", MinCount: p32(1), MaxCount: p32(1), HostID: "host-1"})
	wantErr(t, err, model.CodeInvalidHostIDMalformed, "host-1")

	f.down("h1")
	if v := f.run(bob, service.RunInstancesInput{}).Instances[0]; v.Host != h2.ID {
		t.Fatalf("launch with h1 down on %q, want h2", v.Host)
	}
	f.down("h2")
	_, err = f.RunInstances(ctx, bob, service.RunInstancesInput{ImageID: "lab", MinCount: p32(1), MaxCount: p32(1)})
	wantErr(t, err, model.CodeInsufficientInstanceCapacity, "no available host")
	// A host asked for by ID may be down: its instances wait for it.
	v := f.run(bob, service.RunInstancesInput{HostID: string(h1.ID)}).Instances[0]
	if v.Host != h1.ID {
		t.Fatalf("instance asked on h1 (down) is on %q", v.Host)
	}
	f.stays(bob, v.ID, model.StatePending)
}

func countInstances(rs []service.Reservation) int {
	n := 0
	for _, r := range rs {
		n += len(r.Instances)
	}
	return n
}

// Only the agent of an instance's host makes it running.
func TestWiredByItsHostOnly(t *testing.T) {
	f := newWiringFixture(t) // h1
	f.register("h2")
	id := f.run(bob, service.RunInstancesInput{}).Instances[0].ID // on h1
	rev := f.record(bob, id)
	f.report("h2", bob, id, rev)
	f.stays(bob, id, model.StatePending)
	f.report("h1", bob, id, rev)
	f.waitState(bob, id, model.StateRunning)
}

// StartInstances keeps a stopped instance on its host if that is
// available, and places it again otherwise.
func TestStartPlacesAgain(t *testing.T) {
	f := newWiringFixture(t) // h1
	h1 := f.describeHost(bob, "h1")
	id := f.run(bob, service.RunInstancesInput{}).Instances[0].ID
	f.report("h1", bob, id, f.record(bob, id))
	f.waitState(bob, id, model.StateRunning)
	stopStart := func() {
		t.Helper()
		if _, err := f.StopInstances(ctx, bob, []string{string(id)}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.StartInstances(ctx, bob, []string{string(id)}); err != nil {
			t.Fatal(err)
		}
	}
	h2, _ := f.register("h2")
	stopStart()
	if got := f.hostOf(bob, id); got != h1.ID {
		t.Fatalf("restarted on %q, want its host h1 %s", got, h1.ID)
	}
	f.report("h1", bob, id, f.record(bob, id))
	f.waitState(bob, id, model.StateRunning)
	f.down("h1")
	stopStart()
	if got := f.hostOf(bob, id); got != h2.ID {
		t.Fatalf("restarted with h1 down on %q, want h2 %s", got, h2.ID)
	}
	f.report("h2", bob, id, f.record(bob, id))
	f.waitState(bob, id, model.StateRunning)
}

// describeHost returns the host named name as c sees it.
func (f *wiringFixture) describeHost(c service.Caller, name string) service.HostView {
	f.t.Helper()
	hs, _, err := f.DescribeHosts(ctx, c, service.DescribeHostsInput{Filters: []service.Filter{{Name: "tag:Name", Values: []string{name}}}})
	if err != nil || len(hs) != 1 {
		f.t.Fatalf("describe host %s: %+v, %v", name, hs, err)
	}
	return hs[0]
}

// Every account sees every host, with its own instances on it only; the
// state follows the agent's lease.
func TestDescribeHosts(t *testing.T) {
	f := newWiringFixture(t) // h1
	h2, _ := f.register("h2")
	mine := f.run(bob, service.RunInstancesInput{InstanceType: "t3.small"}).Instances[0] // h1
	f.run(carol, service.RunInstancesInput{})                                            // h2
	f.down("h2")
	all, _, err := f.DescribeHosts(ctx, bob, service.DescribeHostsInput{})
	if err != nil || len(all) != 2 {
		t.Fatalf("hosts %+v, %v", all, err)
	}
	for _, h := range all {
		switch h.Name {
		case "h1":
			if h.State() != "available" || len(h.Instances) != 1 || h.Instances[0] != (service.HostInstance{ID: mine.ID, Type: "t3.small"}) || h.Zone != "us-east-1a" {
				t.Errorf("h1 as bob sees it: %+v (%s)", h, h.State())
			}
		case "h2":
			if h.State() != "under-assessment" || len(h.Instances) != 0 {
				t.Errorf("h2 as bob sees it: %+v (%s)", h, h.State())
			}
		}
	}
	got, _, err := f.DescribeHosts(ctx, carol, service.DescribeHostsInput{IDs: []string{string(h2.ID)}})
	if err != nil || len(got) != 1 || len(got[0].Instances) != 1 {
		t.Fatalf("h2 as carol sees it: %+v, %v", got, err)
	}
	got, _, err = f.DescribeHosts(ctx, bob, service.DescribeHostsInput{Filters: []service.Filter{{Name: "state", Values: []string{"under-assessment"}}}})
	if err != nil || len(got) != 1 || got[0].ID != h2.ID {
		t.Fatalf("hosts under assessment: %+v, %v", got, err)
	}
	_, _, err = f.DescribeHosts(ctx, bob, service.DescribeHostsInput{IDs: []string{"h-0123456789abcdef0"}})
	wantErr(t, err, model.CodeInvalidHostIDNotFound, "h-0123456789abcdef0")
	_, _, err = f.DescribeHosts(ctx, bob, service.DescribeHostsInput{IDs: []string{"i-0123456789abcdef0"}})
	wantErr(t, err, model.CodeInvalidHostIDMalformed, "i-0123456789abcdef0")
	_, _, err = f.DescribeHosts(ctx, bob, service.DescribeHostsInput{Filters: []service.Filter{{Name: "nope", Values: []string{"x"}}}})
	wantErr(t, err, model.CodeInvalidParameterValue, "nope")
}

// A lab host goes to the host named, else to the host that runs the most
// of the VPC's instances, else where an instance would go.
func TestLabHostPlacement(t *testing.T) {
	f := newWiringFixture(t) // h1
	h2, _ := f.register("h2")
	h1 := f.describeHost(bob, "h1")
	inst := f.run(bob, service.RunInstancesInput{HostID: string(h2.ID)}).Instances[0]
	add := func(name, host string) model.HostID {
		t.Helper()
		h, err := f.CreateLabHost(ctx, bob, service.CreateLabHostInput{Name: name, VpcID: string(inst.VPC), IPv4: "203.0.113.9", Host: host})
		if err != nil {
			t.Fatal(err)
		}
		if err := f.DeleteLabHost(ctx, bob, name); err != nil { // the next one may take the address
			t.Fatal(err)
		}
		return h.Host
	}
	if got := add("by-vpc", ""); got != h2.ID {
		t.Fatalf("lab host of the VPC on %q, want h2 %s, which runs its instance", got, h2.ID)
	}
	if got := add("named", "h1"); got != h1.ID {
		t.Fatalf("lab host on --host h1 is on %q, want %s", got, h1.ID)
	}
	f.down("h2")
	if got := add("h2-down", ""); got != h1.ID {
		t.Fatalf("lab host with h2 down on %q, want h1 %s", got, h1.ID)
	}
	_, err := f.CreateLabHost(ctx, bob, service.CreateLabHostInput{Name: "x", VpcID: string(inst.VPC), IPv4: "203.0.113.9", Host: "nowhere"})
	wantErr(t, err, model.CodeInvalidParameterValue, "No host named 'nowhere'")
}

// Starting as many instances as one request may change, each moving to
// another host, is refused clearly when the hosts' counts no longer fit
// in the transaction.
func TestStartTooManyMoving(t *testing.T) {
	st := mem.New(mem.Options{})
	t.Cleanup(func() { st.Close() })
	s, err := service.New(st, service.DefaultConfig()) // no data plane: instances run at once
	if err != nil {
		t.Fatal(err)
	}
	f := &wiringFixture{fixture: &fixture{Service: s, t: t}, st: st, leases: map[string]store.Lease{}}
	f.register("h1")
	var ids []string
	for _, n := range []int32{50, 50, 28} {
		for _, v := range f.run(bob, service.RunInstancesInput{MinCount: p32(n), MaxCount: p32(n)}).Instances {
			ids = append(ids, string(v.ID))
		}
	}
	if _, err := f.StopInstances(ctx, bob, ids); err != nil {
		t.Fatal(err)
	}
	f.down("h1")
	f.register("h2")
	_, err = f.StartInstances(ctx, bob, ids)
	wantErr(t, err, model.CodeInvalidParameterValue, "start fewer at a time")
	if _, err := f.StartInstances(ctx, bob, ids[:100]); err != nil {
		t.Fatal(err)
	}
}
