package service

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"palisade.dev/palisade/internal/model"
)

// flowList is a FlowSource holding fixed records.
type flowList []model.FlowRecord

func (l flowList) Recent(acct model.AccountID, after uint64) []model.FlowRecord {
	var out []model.FlowRecord
	for _, r := range l {
		if r.Account == acct && r.Seq > after {
			out = append(out, r)
		}
	}
	return out
}

// PreviewBlocked names the flows seen lately that an edit would block,
// and only those: an edit that keeps a flow's rule blocks nothing; an
// edit that removes it blocks that flow, not another one allowed by a
// rule that stays; a server that observes no flows says so.
func TestPreviewBlocked(t *testing.T) {
	ctx := context.Background()
	var flows flowList
	s := newTestService(t, WithFlows(&flows))
	g := mustGroup(t, s, alice, "web", "")
	rules, err := s.Authorize(ctx, alice, AuthorizeInput{Group: GroupRef{ID: string(g.ID)}, Direction: model.Ingress,
		Permissions: []model.PermissionSpec{tcpFrom(22, 22, "203.0.113.0/24"), tcpFrom(443, 443, "0.0.0.0/0")}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.RunInstances(ctx, alice, RunInstancesInput{ImageID: "lab", MinCount: i32(1), MaxCount: i32(1), GroupIDs: []string{string(g.ID)}})
	if err != nil {
		t.Fatal(err)
	}
	inst := res.Instances[0]
	now := s.now()
	flow := func(seq uint64, src string, port uint16) model.FlowRecord {
		return model.FlowRecord{Account: alice.Account, Region: alice.Region, ENI: inst.ENIs[0], VPC: inst.VPC, Instance: inst.ID,
			Src: netip.MustParseAddr(src), Dst: inst.PrivateIP, SrcPort: 40000, DstPort: port, Proto: model.ProtoTCP, Action: "ACCEPT",
			Start: now.Add(-time.Minute), End: now, Direction: model.Ingress, Seq: seq, Flow: src}
	}
	flows = flowList{flow(1, "203.0.113.9", 22), flow(2, "198.51.100.4", 443)}
	flows = append(flows, func() model.FlowRecord {
		r := flow(3, "203.0.113.10", 22)
		r.End = now.Add(-2 * PreviewWindow)
		return r
	}())

	var ssh, https model.Rule
	for _, r := range rules {
		if r.Rule.Ports.From == 22 {
			ssh = r.Rule
		} else {
			https = r.Rule
		}
	}
	blocked, observed, err := s.PreviewBlocked(ctx, alice, g.ID, model.Ingress, []model.Rule{ssh, https})
	if err != nil || !observed || len(blocked) != 0 {
		t.Fatalf("an edit that keeps every rule: blocked %+v, observed %v, %v", blocked, observed, err)
	}
	blocked, _, err = s.PreviewBlocked(ctx, alice, g.ID, model.Ingress, []model.Rule{https})
	if err != nil || len(blocked) != 1 || blocked[0].Src != netip.MustParseAddr("203.0.113.9") || blocked[0].DstPort != 22 {
		t.Fatalf("without the SSH rule: blocked %+v, %v; want the SSH flow seen within the hour alone", blocked, err)
	}
	blocked, _, err = s.PreviewBlocked(ctx, alice, g.ID, model.Egress, nil)
	if err != nil || len(blocked) != 0 {
		t.Fatalf("no egress rules at all: blocked %+v, %v; the flows are inbound, answered by conntrack", blocked, err)
	}

	plain := newTestService(t)
	if _, observed, err := plain.PreviewBlocked(ctx, alice, g.ID, model.Ingress, nil); err != nil || observed {
		t.Fatalf("without flows: observed %v, %v", observed, err)
	}
}
