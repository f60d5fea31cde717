package service_test

import (
	"fmt"
	"strings"
	"testing"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/service"
	"palisade.dev/palisade/internal/store"
)

func entries(cidrs ...string) []service.PrefixListEntrySpec {
	var out []service.PrefixListEntrySpec
	for _, c := range cidrs {
		out = append(out, service.PrefixListEntrySpec{CIDR: c, Description: "d " + c})
	}
	return out
}

func (f *fixture) prefixList(name, fam string, max int32, cidrs ...string) *service.ManagedPrefixList {
	f.t.Helper()
	return must[*service.ManagedPrefixList](f.t)(f.CreateManagedPrefixList(ctx, bob, service.CreateManagedPrefixListInput{
		Name: name, AddressFamily: fam, MaxEntries: p32(max), Entries: entries(cidrs...)}))
}

func (f *fixture) plEntries(id model.PrefixListID, version *int64) string {
	f.t.Helper()
	es, _, err := f.GetManagedPrefixListEntries(ctx, bob, string(id), version, service.Page{})
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.CIDR.String())
	}
	return strings.Join(out, " ")
}

func TestCreateManagedPrefixList(t *testing.T) {
	f := newFixture(t)
	pl := f.prefixList("corp", "IPv4", 5, "192.168.1.7/24", "10.1.2.3/16")
	if !strings.HasPrefix(string(pl.ID), "pl-") || pl.Version != 1 || pl.State != "create-complete" || pl.AddressFamily != "IPv4" || pl.MaxEntries != 5 || pl.Account != bob.Account {
		t.Fatalf("%+v", pl)
	}
	if got := f.plEntries(pl.ID, nil); got != "10.1.0.0/16 192.168.1.0/24" {
		t.Errorf("entries %q: canonical, in address order", got)
	}
	v6 := f.prefixList("v6", "IPv6", 2, "2001:db8::1/64")
	if v6.AddressFamily != "IPv6" || f.plEntries(v6.ID, nil) != "2001:db8::/64" {
		t.Errorf("%+v", v6)
	}
	in := func(name, fam string, max *int32, cidrs ...string) service.CreateManagedPrefixListInput {
		return service.CreateManagedPrefixListInput{Name: name, AddressFamily: fam, MaxEntries: max, Entries: entries(cidrs...)}
	}
	cases := []struct {
		in        service.CreateManagedPrefixListInput
		code, msg string
	}{
		{in("", "IPv4", p32(1)), model.CodeMissingParameter, "PrefixListName"},
		{in("com.amazonaws.mine", "IPv4", p32(1)), model.CodeInvalidParameterValue, "com.amazonaws"},
		{in(strings.Repeat("n", 256), "IPv4", p32(1)), model.CodeInvalidParameterValue, "PrefixListName"},
		{in("x", "", p32(1)), model.CodeMissingParameter, "AddressFamily"},
		{in("x", "ipv4", p32(1)), model.CodeInvalidParameterValue, "'ipv4' for AddressFamily"},
		{in("x", "IPv4", nil), model.CodeMissingParameter, "MaxEntries"},
		{in("x", "IPv4", p32(0)), model.CodeInvalidParameterValue, "MaxEntries"},
		{in("x", "IPv4", p32(1001)), model.CodeInvalidParameterValue, "MaxEntries"},
		{in("x", "IPv4", p32(2), "2001:db8::/32"), model.CodeInvalidParameterValue, "does not match the address family IPv4"},
		{in("x", "IPv6", p32(2), "10.0.0.0/8"), model.CodeInvalidParameterValue, "address family IPv6"},
		{in("x", "IPv4", p32(2), "10.0.0.0/33"), model.CodeInvalidParameterValue, "malformed"},
		{in("x", "IPv4", p32(3), "10.0.0.0/8", "10.1.0.0/8"), model.CodeInvalidParameterValue, "10.0.0.0/8 is given more than once"},
		{in("x", "IPv4", p32(1), "10.0.0.0/8", "11.0.0.0/8"), model.CodeInvalidParameterValue, "more than its maximum of 1"},
		{service.CreateManagedPrefixListInput{Name: "x", AddressFamily: "IPv4", MaxEntries: p32(1), TagSpecifications: []service.TagSpecification{{ResourceType: "vpc"}}}, model.CodeInvalidParameterValue, "taggable"},
	}
	for _, c := range cases {
		_, err := f.CreateManagedPrefixList(ctx, bob, c.in)
		wantErr(t, err, c.code, c.msg)
	}
}

func TestManagedPrefixListClientToken(t *testing.T) {
	f := newFixture(t)
	in := service.CreateManagedPrefixListInput{Name: "corp", AddressFamily: "IPv4", MaxEntries: p32(3), ClientToken: "t1",
		TagSpecifications: []service.TagSpecification{{ResourceType: "prefix-list", Tags: model.Tags{{Key: "Name", Value: "corp"}}}}}
	a := must[*service.ManagedPrefixList](t)(f.CreateManagedPrefixList(ctx, bob, in))
	b := must[*service.ManagedPrefixList](t)(f.CreateManagedPrefixList(ctx, bob, in))
	if a.ID != b.ID || len(a.Tags) != 1 {
		t.Fatalf("%s %s %v", a.ID, b.ID, a.Tags)
	}
	in.MaxEntries = p32(4)
	_, err := f.CreateManagedPrefixList(ctx, bob, in)
	wantErr(t, err, "IdempotentParameterMismatch", "inconsistent")
}

func TestModifyManagedPrefixList(t *testing.T) {
	f := newFixture(t)
	pl := f.prefixList("corp", "IPv4", 4, "10.0.0.0/8")
	id := string(pl.ID)
	modify := func(in service.ModifyManagedPrefixListInput) (*service.ManagedPrefixList, error) {
		in.PrefixListID = id
		return f.ModifyManagedPrefixList(ctx, bob, in)
	}
	got, err := modify(service.ModifyManagedPrefixListInput{CurrentVersion: p64(1), AddEntries: entries("172.16.0.0/12", "192.168.0.0/16")})
	if err != nil || got.Version != 2 || got.State != "modify-complete" {
		t.Fatalf("%+v %v", got, err)
	}
	_, err = modify(service.ModifyManagedPrefixListInput{CurrentVersion: p64(1), RemoveEntries: entries("10.0.0.0/8")})
	wantErr(t, err, "PrefixListVersionMismatch", "The prefix list has the incorrect version number.")
	got, err = modify(service.ModifyManagedPrefixListInput{CurrentVersion: p64(2), RemoveEntries: entries("10.0.0.0/8"), AddEntries: entries("100.64.0.0/10")})
	if err != nil || got.Version != 3 {
		t.Fatalf("%+v %v", got, err)
	}
	// Renaming and resizing keep the version.
	got, err = modify(service.ModifyManagedPrefixListInput{Name: "corporate"})
	if err != nil || got.Version != 3 || got.Name != "corporate" {
		t.Fatalf("%+v %v", got, err)
	}
	got, err = modify(service.ModifyManagedPrefixListInput{MaxEntries: p32(10)})
	if err != nil || got.Version != 3 || got.MaxEntries != 10 {
		t.Fatalf("%+v %v", got, err)
	}
	if e := f.plEntries(pl.ID, nil); e != "100.64.0.0/10 172.16.0.0/12 192.168.0.0/16" {
		t.Errorf("current entries %q", e)
	}
	if e := f.plEntries(pl.ID, p64(1)); e != "10.0.0.0/8" {
		t.Errorf("version 1 entries %q", e)
	}
	if e := f.plEntries(pl.ID, p64(2)); e != "10.0.0.0/8 172.16.0.0/12 192.168.0.0/16" {
		t.Errorf("version 2 entries %q", e)
	}
	for _, v := range []int64{0, 4} {
		_, _, err = f.GetManagedPrefixListEntries(ctx, bob, id, p64(v), service.Page{})
		wantErr(t, err, model.CodeInvalidParameterValue, "does not exist")
	}
	cases := []struct {
		in        service.ModifyManagedPrefixListInput
		code, msg string
	}{
		{service.ModifyManagedPrefixListInput{RemoveEntries: entries("10.0.0.0/8")}, model.CodeInvalidParameterValue, "10.0.0.0/8 does not exist"},
		{service.ModifyManagedPrefixListInput{AddEntries: entries("172.16.0.0/12")}, model.CodeInvalidParameterValue, "already exists"},
		{service.ModifyManagedPrefixListInput{AddEntries: entries("172.16.0.0/12"), RemoveEntries: entries("172.16.0.0/12")}, model.CodeInvalidParameterValue, "more than once"},
		{service.ModifyManagedPrefixListInput{AddEntries: entries("::/0")}, model.CodeInvalidParameterValue, "address family"},
		{service.ModifyManagedPrefixListInput{AddEntries: entries("1.0.0.0/8"), MaxEntries: p32(20)}, model.CodeInvalidParameterCombination, "resize"},
		{service.ModifyManagedPrefixListInput{MaxEntries: p32(2)}, model.CodeInvalidParameterValue, "more than the new maximum of 2"},
		{service.ModifyManagedPrefixListInput{MaxEntries: p32(0)}, model.CodeInvalidParameterValue, "MaxEntries"},
		{service.ModifyManagedPrefixListInput{PrefixListID: "pl-0123456789abcdef0", Name: "x"}, model.CodeInvalidPrefixListIDNotFound, "pl-0123456789abcdef0"},
		{service.ModifyManagedPrefixListInput{PrefixListID: "list", Name: "x"}, model.CodeInvalidPrefixListIDMalformed, "list"},
	}
	for _, c := range cases {
		in := c.in
		if in.PrefixListID == "" {
			in.PrefixListID = id
		}
		_, err := f.ModifyManagedPrefixList(ctx, bob, in)
		wantErr(t, err, c.code, c.msg)
	}
	// Eleven entries need room for eleven.
	var more []string
	for i := range 8 {
		more = append(more, fmt.Sprintf("20.%d.0.0/16", i))
	}
	_, err = modify(service.ModifyManagedPrefixListInput{AddEntries: entries(more...)})
	wantErr(t, err, model.CodeInvalidParameterValue, "11 entries, more than its maximum of 10")
}

// A prefix list counts as its MaxEntries against a referencing group's rule
// quota (60 per family and direction): resizing past it fails and changes
// nothing.
func TestManagedPrefixListResizeQuota(t *testing.T) {
	f := newFixture(t)
	pl := f.prefixList("corp", "IPv4", 10, "10.0.0.0/8")
	g := f.group(bob, "web", "")
	perm := model.PermissionSpec{Protocol: "tcp", FromPort: p32(443), ToPort: p32(443), PrefixLists: []model.SourceSpec{{Value: string(pl.ID)}}}
	for i := range 49 {
		perm.IPv4 = append(perm.IPv4, model.SourceSpec{Value: fmt.Sprintf("10.%d.0.0/16", i)})
	}
	if _, err := f.Authorize(ctx, bob, service.AuthorizeInput{Group: service.GroupRef{ID: string(g.ID)}, Direction: model.Ingress, Permissions: []model.PermissionSpec{perm}}); err != nil {
		t.Fatal(err) // 49 + 10 = 59
	}
	resize := func(n int32) error {
		_, err := f.ModifyManagedPrefixList(ctx, bob, service.ModifyManagedPrefixListInput{PrefixListID: string(pl.ID), MaxEntries: p32(n)})
		return err
	}
	if err := resize(11); err != nil {
		t.Fatalf("60 rules fit: %v", err)
	}
	wantErr(t, resize(12), model.CodeRulesPerGroupLimitExceeded, "security group "+string(g.ID))
	pls, _, err := f.DescribeManagedPrefixLists(ctx, bob, service.DescribeManagedPrefixListsInput{IDs: []string{string(pl.ID)}})
	if err != nil || pls[0].MaxEntries != 11 {
		t.Fatalf("a failed resize changed the list: %+v %v", pls, err)
	}
	// Shrinking is always fine for the quota.
	if err := resize(3); err != nil {
		t.Fatal(err)
	}
	// An IPv6 list does not touch the IPv4 count.
	v6 := f.prefixList("v6", "IPv6", 50)
	if _, err := f.Authorize(ctx, bob, service.AuthorizeInput{Group: service.GroupRef{ID: string(g.ID)}, Direction: model.Ingress,
		Permissions: []model.PermissionSpec{{Protocol: "tcp", FromPort: p32(80), ToPort: p32(80), PrefixLists: []model.SourceSpec{{Value: string(v6.ID)}}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.ModifyManagedPrefixList(ctx, bob, service.ModifyManagedPrefixListInput{PrefixListID: string(v6.ID), MaxEntries: p32(60)}); err != nil {
		t.Fatal(err)
	}
}

func TestDeleteManagedPrefixList(t *testing.T) {
	f := newFixture(t)
	pl := f.prefixList("corp", "IPv4", 3, "10.0.0.0/8")
	id := string(pl.ID)
	for i := range 3 {
		if _, err := f.ModifyManagedPrefixList(ctx, bob, service.ModifyManagedPrefixListInput{PrefixListID: id, AddEntries: entries(fmt.Sprintf("1%d.0.0.0/8", i+1))}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.ModifyManagedPrefixList(ctx, bob, service.ModifyManagedPrefixListInput{PrefixListID: id, RemoveEntries: entries(fmt.Sprintf("1%d.0.0.0/8", i+1))}); err != nil {
			t.Fatal(err)
		}
	}
	g := f.group(bob, "web", "")
	rules, err := f.Authorize(ctx, bob, service.AuthorizeInput{Group: service.GroupRef{ID: string(g.ID)}, Direction: model.Egress,
		Permissions: []model.PermissionSpec{{Protocol: "-1", PrefixLists: []model.SourceSpec{{Value: id}}}}})
	if err != nil {
		t.Fatal(err)
	}
	// Deleting it while a rule references it is accepted, and fails
	// afterwards: the list stays, in delete-failed, still in use.
	got, err := f.DeleteManagedPrefixList(ctx, bob, id)
	if err != nil || got.State != "delete-in-progress" {
		t.Fatalf("delete of a referenced list: %+v %v", got, err)
	}
	lists, _, err := f.DescribeManagedPrefixLists(ctx, bob, service.DescribeManagedPrefixListsInput{IDs: []string{id}})
	if err != nil || len(lists) != 1 || lists[0].State != "delete-failed" || len(lists[0].Entries) != 1 {
		t.Fatalf("after a failed delete: %+v %v", lists, err)
	}
	if got := f.plEntries(pl.ID, nil); got != "10.0.0.0/8" {
		t.Fatalf("entries after a failed delete: %q", got)
	}
	if _, err := f.Revoke(ctx, bob, service.RevokeInput{Group: service.GroupRef{ID: string(g.ID)}, Direction: model.Egress, RuleIDs: []string{string(rules[0].Rule.ID)}}); err != nil {
		t.Fatal(err)
	}
	got, err = f.DeleteManagedPrefixList(ctx, bob, id)
	if err != nil || got.State != "delete-in-progress" {
		t.Fatalf("%+v %v", got, err)
	}
	_, _, err = f.DescribeManagedPrefixLists(ctx, bob, service.DescribeManagedPrefixListsInput{IDs: []string{id}})
	wantErr(t, err, model.CodeInvalidPrefixListIDNotFound, id)
	_, err = f.DeleteManagedPrefixList(ctx, bob, id)
	wantErr(t, err, model.CodeInvalidPrefixListIDNotFound, id)
	// Its kept versions went with it.
	page, err := f.Store().List(ctx, model.ResourcePrefix(bob.Account, bob.Region)+"plv/", store.ListOptions{})
	if err != nil || len(page.KVs) != 0 {
		t.Fatalf("versions left: %d %v", len(page.KVs), err)
	}
}

func TestManagedPrefixListVersionsKept(t *testing.T) {
	f := newFixture(t)
	pl := f.prefixList("corp", "IPv4", 2)
	id := string(pl.ID)
	for i := range 30 {
		cidr := fmt.Sprintf("10.%d.0.0/16", i)
		in := service.ModifyManagedPrefixListInput{PrefixListID: id, AddEntries: entries(cidr)}
		if i > 0 {
			in.RemoveEntries = entries(fmt.Sprintf("10.%d.0.0/16", i-1))
		}
		if _, err := f.ModifyManagedPrefixList(ctx, bob, in); err != nil {
			t.Fatal(err)
		}
	}
	// Version 31 is current; 11 to 30 are kept (20), older ones are gone.
	if e := f.plEntries(pl.ID, p64(11)); e != "10.9.0.0/16" {
		t.Errorf("version 11: %q", e)
	}
	_, _, err := f.GetManagedPrefixListEntries(ctx, bob, id, p64(10), service.Page{})
	wantErr(t, err, model.CodeInvalidParameterValue, "no longer kept")
	page, _ := f.Store().List(ctx, model.ResourcePrefix(bob.Account, bob.Region)+"plv/", store.ListOptions{})
	if len(page.KVs) != 20 {
		t.Errorf("%d versions stored, want 20", len(page.KVs))
	}
}

func TestDescribeManagedPrefixLists(t *testing.T) {
	f := newFixture(t)
	var ids []string
	for i := range 5 {
		ids = append(ids, string(f.prefixList(fmt.Sprintf("list-%d", i), "IPv4", 1).ID))
	}
	if err := f.CreateTags(ctx, bob, ids[:2], model.Tags{{Key: "team", Value: "net"}}); err != nil {
		t.Fatal(err)
	}
	flt := func(name string, v ...string) []service.Filter { return []service.Filter{{Name: name, Values: v}} }
	for _, c := range []struct {
		filters []service.Filter
		want    int
	}{
		{nil, 5},
		{flt("prefix-list-name", "list-1", "list-3"), 2},
		{flt("prefix-list-id", ids[4]), 1},
		{flt("owner-id", string(bob.Account)), 5},
		{flt("tag:team", "net"), 2},
	} {
		got, _, err := f.DescribeManagedPrefixLists(ctx, bob, service.DescribeManagedPrefixListsInput{Filters: c.filters})
		if err != nil || len(got) != c.want {
			t.Errorf("%+v: %d lists, want %d (%v)", c.filters, len(got), c.want, err)
		}
	}
	// MaxResults is 1 to 100 for prefix lists.
	var seen []string
	token := ""
	for {
		got, next, err := f.DescribeManagedPrefixLists(ctx, bob, service.DescribeManagedPrefixListsInput{Page: service.Page{MaxResults: 2, NextToken: token}})
		if err != nil || len(got) > 2 {
			t.Fatal(len(got), err)
		}
		for _, p := range got {
			seen = append(seen, string(p.ID))
		}
		if token = next; token == "" {
			break
		}
	}
	if !sameIDs(seen, ids) {
		t.Errorf("pages %v, want %v", seen, ids)
	}
	_, _, err := f.DescribeManagedPrefixLists(ctx, bob, service.DescribeManagedPrefixListsInput{Page: service.Page{MaxResults: 101}})
	wantErr(t, err, model.CodeInvalidParameterValue, "between 1 and 100")
	_, _, err = f.DescribeManagedPrefixLists(ctx, bob, service.DescribeManagedPrefixListsInput{Page: service.Page{NextToken: "garbage!"}})
	wantErr(t, err, model.CodeInvalidParameterValue, "NextToken")

	// Entries page too, in address order.
	pl := f.prefixList("big", "IPv4", 10, "10.0.0.0/8", "9.0.0.0/8", "11.0.0.0/8")
	es, next, err := f.GetManagedPrefixListEntries(ctx, bob, string(pl.ID), nil, service.Page{MaxResults: 1})
	if err != nil || len(es) != 1 || es[0].CIDR.String() != "9.0.0.0/8" || es[0].Description != "d 9.0.0.0/8" || next == "" {
		t.Fatalf("%+v %q %v", es, next, err)
	}
	es, next, err = f.GetManagedPrefixListEntries(ctx, bob, string(pl.ID), nil, service.Page{MaxResults: 5, NextToken: next})
	if err != nil || len(es) != 2 || es[0].CIDR.String() != "10.0.0.0/8" || next != "" {
		t.Fatalf("%+v %q %v", es, next, err)
	}
}
