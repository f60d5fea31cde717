package service_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/service"
)

// tagFixture is one resource of every taggable kind.
type tagFixture struct {
	vpc, subnet, group, rule1, rule2, instance, eni, pl string
}

func newTagWorld(t *testing.T, f *fixture) tagFixture {
	t.Helper()
	v := f.vpc(bob, "10.3.0.0/16", false)
	sn := f.subnet(bob, v.ID, "10.3.1.0/24", "", "")
	g := f.group(bob, "web", v.ID)
	rules, err := f.Authorize(ctx, bob, service.AuthorizeInput{Group: service.GroupRef{ID: string(g.ID)}, Direction: model.Ingress,
		Permissions: []model.PermissionSpec{{Protocol: "tcp", FromPort: p32(22), ToPort: p32(22), IPv4: []model.SourceSpec{{Value: "10.0.0.0/8"}, {Value: "192.168.0.0/16"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	inst := f.run(bob, service.RunInstancesInput{SubnetID: string(sn.ID)}).Instances[0]
	pl := must[*service.ManagedPrefixList](t)(f.CreateManagedPrefixList(ctx, bob, service.CreateManagedPrefixListInput{Name: "corp", AddressFamily: "IPv4", MaxEntries: p32(5)}))
	return tagFixture{string(v.ID), string(sn.ID), string(g.ID), string(rules[0].Rule.ID), string(rules[1].Rule.ID),
		string(inst.ID), string(inst.Interfaces[0].ID), string(pl.ID)}
}

func (w tagFixture) ids() []string {
	return []string{w.vpc, w.subnet, w.group, w.rule1, w.rule2, w.instance, w.eni, w.pl}
}

func TestCreateTagsOnEveryKind(t *testing.T) {
	f := newFixture(t)
	w := newTagWorld(t, f)
	// An interface attribute the model does not hold must survive tagging.
	if err := f.ModifyNetworkInterfaceAttribute(ctx, bob, service.ModifyNetworkInterfaceAttributeInput{NetworkInterfaceID: w.eni, SourceDestCheck: pbool(false)}); err != nil {
		t.Fatal(err)
	}
	if err := f.CreateTags(ctx, bob, w.ids(), model.Tags{{Key: "env", Value: "lab"}, {Key: "Name", Value: "x"}}); err != nil {
		t.Fatal(err)
	}
	items, _, err := f.DescribeTags(ctx, bob, []service.Filter{{Name: "key", Values: []string{"env"}}}, service.Page{})
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]string{}
	for _, it := range items {
		types[it.ResourceID] = it.ResourceType
		if it.Value != "lab" {
			t.Errorf("%+v", it)
		}
	}
	want := map[string]string{w.vpc: "vpc", w.subnet: "subnet", w.group: "security-group", w.rule1: "security-group-rule",
		w.rule2: "security-group-rule", w.instance: "instance", w.eni: "network-interface", w.pl: "prefix-list"}
	for id, typ := range want {
		if types[id] != typ {
			t.Errorf("%s: type %q, want %q", id, types[id], typ)
		}
	}
	if len(items) != len(want) {
		t.Errorf("%d items, want %d", len(items), len(want))
	}
	// The resources show their tags, and nothing else changed.
	rules, _, err := f.DescribeSecurityGroupRules(ctx, bob, []string{w.rule2}, nil, service.Page{})
	if err != nil || len(rules[0].Rule.Tags) != 2 || rules[0].Rule.Peer.Prefix.String() != "192.168.0.0/16" {
		t.Errorf("rule after tagging: %+v %v", rules, err)
	}
	n := f.describeENI(bob, model.ENIID(w.eni))
	if len(n.Tags) != 2 || n.SourceDestCheck || n.Attachment == nil {
		t.Errorf("interface after tagging: %+v", n)
	}
	if inst := f.describeInstance(bob, model.InstanceID(w.instance)); len(inst.Tags) != 2 || len(inst.Interfaces) != 1 {
		t.Errorf("instance after tagging: %+v", inst)
	}
	// Overwrite a value.
	if err := f.CreateTags(ctx, bob, []string{w.rule1}, model.Tags{{Key: "env", Value: "prod"}}); err != nil {
		t.Fatal(err)
	}
	items, _, _ = f.DescribeTags(ctx, bob, []service.Filter{{Name: "resource-id", Values: []string{w.rule1}}}, service.Page{})
	if len(items) != 2 || items[1].Key != "env" || items[1].Value != "prod" {
		t.Errorf("after overwrite %+v", items)
	}
}

func TestCreateTagsErrors(t *testing.T) {
	f := newFixture(t)
	w := newTagWorld(t, f)
	tag := model.Tags{{Key: "k", Value: "v"}}
	cases := []struct {
		ids       []string
		tags      model.Tags
		code, msg string
	}{
		{nil, tag, model.CodeMissingParameter, "resourceIdSet"},
		{[]string{w.vpc}, nil, model.CodeMissingParameter, "tagSet"},
		{[]string{"foo"}, tag, "InvalidID", "The ID 'foo' is not valid"},
		{[]string{"r-0123456789abcdef0"}, tag, "InvalidID", "r-0123456789abcdef0"},
		{[]string{"eni-attach-0123456789abcdef0"}, tag, "InvalidID", "eni-attach"},
		{[]string{"vpc-0123456789abcdef0"}, tag, model.CodeInvalidVpcIDNotFound, "vpc-0123456789abcdef0"},
		{[]string{"subnet-0123456789abcdef0"}, tag, model.CodeInvalidSubnetIDNotFound, "subnet-0123456789abcdef0"},
		{[]string{"sg-0123456789abcdef0"}, tag, model.CodeInvalidGroupNotFound, "sg-0123456789abcdef0"},
		{[]string{"sgr-0123456789abcdef0"}, tag, model.CodeInvalidRuleIDNotFound, "sgr-0123456789abcdef0"},
		{[]string{"i-0123456789abcdef0"}, tag, model.CodeInvalidInstanceIDNotFound, "i-0123456789abcdef0"},
		{[]string{"eni-0123456789abcdef0"}, tag, model.CodeInvalidNetworkInterfaceIDNotFound, "eni-0123456789abcdef0"},
		{[]string{"pl-0123456789abcdef0"}, tag, model.CodeInvalidPrefixListIDNotFound, "pl-0123456789abcdef0"},
		{[]string{"sg-xyz"}, tag, model.CodeInvalidGroupIDMalformed, "sg-xyz"},
		{[]string{"i-XYZ"}, tag, model.CodeInvalidInstanceIDMalformed, "i-XYZ"},
		{[]string{w.vpc}, model.Tags{{Key: "aws:owner", Value: "x"}}, model.CodeInvalidParameterValue, "aws:"},
		{[]string{w.vpc}, model.Tags{{Key: "", Value: "x"}}, model.CodeInvalidParameterValue, "empty"},
		{[]string{w.vpc}, model.Tags{{Key: "a"}, {Key: "a"}}, model.CodeInvalidParameterValue, "Duplicate tag key 'a'"},
		// One unknown ID fails the request for the others too.
		{[]string{w.vpc, "vpc-00000000"}, tag, model.CodeInvalidVpcIDNotFound, "vpc-00000000"},
	}
	for _, c := range cases {
		wantErr(t, f.CreateTags(ctx, bob, c.ids, c.tags), c.code, c.msg)
	}
	items, _, _ := f.DescribeTags(ctx, bob, nil, service.Page{})
	if len(items) != 0 {
		t.Fatalf("failed requests tagged %+v", items)
	}

	// 50 tags per resource, counted after merging.
	var fifty model.Tags
	for i := range 50 {
		fifty = append(fifty, model.Tag{Key: fmt.Sprintf("k%02d", i)})
	}
	if err := f.CreateTags(ctx, bob, []string{w.rule1}, fifty); err != nil {
		t.Fatal(err)
	}
	if err := f.CreateTags(ctx, bob, []string{w.rule1}, fifty[:3]); err != nil {
		t.Fatalf("overwriting existing keys stays at 50: %v", err)
	}
	wantErr(t, f.CreateTags(ctx, bob, []string{w.rule2, w.rule1}, model.Tags{{Key: "one-more"}}), model.CodeTagLimitExceeded, "The maximum number of Tags for a resource has been reached.")
	wantErr(t, f.CreateTags(ctx, bob, []string{w.vpc}, append(fifty, model.Tag{Key: "x"})), model.CodeTagLimitExceeded, "maximum number of Tags")
	items, _, _ = f.DescribeTags(ctx, bob, []service.Filter{{Name: "resource-id", Values: []string{w.rule2}}}, service.Page{})
	if len(items) != 0 {
		t.Fatalf("a failed request tagged %s: %+v", w.rule2, items)
	}
}

func TestDeleteTags(t *testing.T) {
	f := newFixture(t)
	w := newTagWorld(t, f)
	base := model.Tags{{Key: "a", Value: "1"}, {Key: "b", Value: ""}, {Key: "c", Value: "3"}, {Key: "d", Value: "4"}}
	if err := f.CreateTags(ctx, bob, []string{w.eni, w.rule1}, base); err != nil {
		t.Fatal(err)
	}
	keys := func(id string) string {
		t.Helper()
		items, _, err := f.DescribeTags(ctx, bob, []service.Filter{{Name: "resource-id", Values: []string{id}}}, service.Page{})
		if err != nil {
			t.Fatal(err)
		}
		var ks []string
		for _, it := range items {
			ks = append(ks, it.Key)
		}
		return strings.Join(ks, ",")
	}
	steps := []struct {
		keys []service.TagKey
		want string
	}{
		{[]service.TagKey{{Key: "a", Value: pstr("2")}}, "a,b,c,d"}, // value differs: kept
		{[]service.TagKey{{Key: "a", Value: pstr("1")}}, "b,c,d"},   // value matches
		{[]service.TagKey{{Key: "c", Value: pstr("")}}, "b,c,d"},    // "" matches only an empty value
		{[]service.TagKey{{Key: "b", Value: pstr("")}}, "c,d"},
		{[]service.TagKey{{Key: "c"}, {Key: "zz"}}, "d"}, // no value: whatever it is; missing keys are fine
		{nil, ""}, // no keys: every tag
	}
	for i, s := range steps {
		if err := f.DeleteTags(ctx, bob, []string{w.eni, w.rule1}, s.keys); err != nil {
			t.Fatal(err)
		}
		if got := keys(w.eni); got != s.want {
			t.Errorf("step %d: eni has %q, want %q", i, got, s.want)
		}
		if got := keys(w.rule1); got != s.want {
			t.Errorf("step %d: rule has %q, want %q", i, got, s.want)
		}
	}
	wantErr(t, f.DeleteTags(ctx, bob, []string{"i-0123456789abcdef0"}, nil), model.CodeInvalidInstanceIDNotFound, "i-0123456789abcdef0")
	wantErr(t, f.DeleteTags(ctx, bob, nil, nil), model.CodeMissingParameter, "resourceIdSet")
	wantErr(t, f.DeleteTags(ctx, bob, []string{w.vpc}, []service.TagKey{{Key: "aws:x"}}), model.CodeInvalidParameterValue, "aws:")
}

func TestDescribeTagsFiltersAndPages(t *testing.T) {
	f := newFixture(t)
	w := newTagWorld(t, f)
	for _, id := range w.ids() {
		if err := f.CreateTags(ctx, bob, []string{id}, model.Tags{{Key: "Name", Value: id}, {Key: "team", Value: "net"}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.CreateTags(ctx, bob, []string{w.instance}, model.Tags{{Key: "tier", Value: "web"}}); err != nil {
		t.Fatal(err)
	}
	count := func(filters ...service.Filter) int {
		t.Helper()
		items, _, err := f.DescribeTags(ctx, bob, filters, service.Page{})
		if err != nil {
			t.Fatal(err)
		}
		return len(items)
	}
	flt := func(name string, v ...string) service.Filter { return service.Filter{Name: name, Values: v} }
	cases := []struct {
		f    []service.Filter
		want int
	}{
		{nil, 17},
		{[]service.Filter{flt("resource-type", "security-group-rule")}, 4},
		{[]service.Filter{flt("resource-type", "instance", "network-interface")}, 5},
		{[]service.Filter{flt("key", "team"), flt("value", "net")}, 8},
		{[]service.Filter{flt("value", "sgr-*")}, 2},
		{[]service.Filter{flt("tag:tier", "web")}, 3}, // every tag of the resources tagged tier=web
		{[]service.Filter{flt("resource-id", w.pl)}, 2},
	}
	for _, c := range cases {
		if got := count(c.f...); got != c.want {
			t.Errorf("%+v: %d items, want %d", c.f, got, c.want)
		}
	}
	_, _, err := f.DescribeTags(ctx, bob, []service.Filter{flt("owner", "x")}, service.Page{})
	wantErr(t, err, model.CodeInvalidParameterValue, "owner")
	_, _, err = f.DescribeTags(ctx, bob, nil, service.Page{MaxResults: 4})
	wantErr(t, err, model.CodeInvalidParameterValue, "maxResults")

	// Pages of 5 in (resource, key) order, with a tag added between pages.
	var got []string
	token := ""
	for page := 0; ; page++ {
		items, next, err := f.DescribeTags(ctx, bob, nil, service.Page{MaxResults: 5, NextToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			got = append(got, it.ResourceID+"/"+it.Key)
		}
		if page == 0 {
			// "zzz" sorts after every key of the resource, so it is listed later.
			if err := f.CreateTags(ctx, bob, []string{w.vpc}, model.Tags{{Key: "zzz"}}); err != nil {
				t.Fatal(err)
			}
		}
		if token = next; token == "" {
			break
		}
	}
	if len(got) != 18 {
		t.Fatalf("%d items over the pages: %v", len(got), got)
	}
	for i := 1; i < len(got); i++ {
		if strings.Compare(strings.Replace(got[i-1], "/", "\x00", 1), strings.Replace(got[i], "/", "\x00", 1)) >= 0 {
			t.Fatalf("out of order or repeated: %s then %s", got[i-1], got[i])
		}
	}
}

func TestTagsOfTerminatedInstances(t *testing.T) {
	f := newFixture(t)
	id := string(f.run(bob, service.RunInstancesInput{TagSpecifications: []service.TagSpecification{{ResourceType: "instance", Tags: model.Tags{{Key: "Name", Value: "gone"}}}}}).Instances[0].ID)
	if _, err := f.TerminateInstances(ctx, bob, []string{id}); err != nil {
		t.Fatal(err)
	}
	if err := f.CreateTags(ctx, bob, []string{id}, model.Tags{{Key: "k"}}); err != nil {
		t.Fatalf("a terminated instance is taggable while visible: %v", err)
	}
	f.clock.Advance(2 * time.Hour)
	items, _, _ := f.DescribeTags(ctx, bob, nil, service.Page{})
	if len(items) != 0 {
		t.Errorf("tags of an expired instance: %+v", items)
	}
	wantErr(t, f.CreateTags(ctx, bob, []string{id}, model.Tags{{Key: "k"}}), model.CodeInvalidInstanceIDNotFound, id)
}

func TestSpecTags(t *testing.T) {
	got, err := service.SpecTags([]service.TagSpecification{{ResourceType: "instance", Tags: model.Tags{{Key: "a", Value: "b"}}}, {ResourceType: "volume"}}, "instance", "volume")
	if err != nil || len(got["instance"]) != 1 || got["volume"] != nil {
		t.Fatalf("%v %v", got, err)
	}
	var many model.Tags
	for i := range 51 {
		many = append(many, model.Tag{Key: fmt.Sprint(i)})
	}
	for _, c := range []struct {
		specs     []service.TagSpecification
		code, msg string
	}{
		{[]service.TagSpecification{{ResourceType: ""}}, model.CodeInvalidParameterValue, "'' is not a valid taggable resource type"},
		{[]service.TagSpecification{{ResourceType: "security-group"}}, model.CodeInvalidParameterValue, "'security-group' is not a valid"},
		{[]service.TagSpecification{{ResourceType: "instance"}, {ResourceType: "instance"}}, model.CodeInvalidParameterValue, "more than once"},
		{[]service.TagSpecification{{ResourceType: "instance", Tags: many}}, model.CodeTagLimitExceeded, "maximum number of Tags"},
		{[]service.TagSpecification{{ResourceType: "instance", Tags: model.Tags{{Key: strings.Repeat("k", 128)}}}}, model.CodeInvalidParameterValue, "127"},
	} {
		_, err := service.SpecTags(c.specs, "instance", "volume")
		wantErr(t, err, c.code, c.msg)
	}
}
