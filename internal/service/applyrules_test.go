package service

import (
	"context"
	"testing"

	"palisade.dev/palisade/internal/model"
)

// ApplyRules removes and adds in one transaction: all of it or nothing.
func TestApplyRules(t *testing.T) {
	ctx := context.Background()
	s := newTestService(t)
	g := mustGroup(t, s, alice, "web", "")
	added, err := s.Authorize(ctx, alice, AuthorizeInput{Group: GroupRef{ID: string(g.ID)}, Direction: model.Ingress,
		Permissions: []model.PermissionSpec{tcpFrom(22, 22, "10.0.0.0/8"), tcpFrom(80, 80, "0.0.0.0/0")}})
	if err != nil {
		t.Fatal(err)
	}
	ssh, web := string(added[0].Rule.ID), string(added[1].Rule.ID)

	// A bad addition fails the whole edit: the removal does not happen.
	_, err = s.ApplyRules(ctx, alice, ApplyRulesInput{GroupID: string(g.ID), Direction: model.Ingress,
		Remove: []string{ssh}, Add: []model.PermissionSpec{tcpFrom(443, 443, "10.0.0.0/33")}})
	wantCode(t, err, model.CodeInvalidParameterValue)
	// Adding a rule that stays is a duplicate; re-adding a removed one is not.
	_, err = s.ApplyRules(ctx, alice, ApplyRulesInput{GroupID: string(g.ID), Direction: model.Ingress,
		Add: []model.PermissionSpec{tcpFrom(80, 80, "0.0.0.0/0")}})
	wantCode(t, err, model.CodeInvalidPermissionDuplicate)
	// A rule ID of the other direction is not found.
	_, err = s.ApplyRules(ctx, alice, ApplyRulesInput{GroupID: string(g.ID), Direction: model.Egress, Remove: []string{ssh}})
	wantCode(t, err, "InvalidSecurityGroupRuleId.NotFound")
	if got := len(describeGroup(t, s, alice, g.ID).RulesOf(model.Ingress)); got != 2 {
		t.Fatalf("after failed edits: %d ingress rules, want 2", got)
	}

	out, err := s.ApplyRules(ctx, alice, ApplyRulesInput{GroupID: string(g.ID), Direction: model.Ingress,
		Remove: []string{ssh, web}, Add: []model.PermissionSpec{tcpFrom(22, 22, "10.0.0.0/8"), tcpFrom(443, 443, "0.0.0.0/0")}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 || out[0].Rule.ID == added[0].Rule.ID {
		t.Fatalf("added %+v, want two new rules with new IDs", out)
	}
	in := describeGroup(t, s, alice, g.ID).RulesOf(model.Ingress)
	if len(in) != 2 || in[0].Ports.From != 22 || in[1].Ports.From != 443 {
		t.Fatalf("ingress after edit: %+v", in)
	}
}
