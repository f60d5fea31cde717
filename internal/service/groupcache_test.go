package service

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"reflect"
	"testing"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/store"
)

func cacheTestGroup(rules int) model.SecurityGroup {
	g := model.SecurityGroup{ID: "sg-0123456789abcdef0", Name: "web", Tags: model.Tags{{Key: "k", Value: "v"}}}
	for i := range rules {
		g.Rules = append(g.Rules, model.Rule{
			ID: model.RuleID(fmt.Sprintf("sgr-%017x", i)), Protocol: model.ProtocolOf(model.ProtoTCP), Ports: model.PortRange{From: 443, To: 443},
			Peer: model.CIDRPeer(netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), 32)),
			Tags: model.Tags{{Key: "rule", Value: "x"}},
		})
	}
	return g
}

// What the cache hands out is the caller's: changing it changes neither
// the cache nor what the next read of the same bytes returns.
func TestGroupCacheHandsOutCopies(t *testing.T) {
	want := cacheTestGroup(3)
	raw, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var c groupCache
	for range 3 {
		var g model.SecurityGroup
		if err := c.decode("k1", raw, &g); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(g, want) {
			t.Fatalf("decoded %+v, want %+v", g, want)
		}
		g.Rules[0].Peer = model.CIDRPeer(netip.MustParsePrefix("192.0.2.0/24"))
		g.Rules[1].Tags[0].Value = "changed"
		g.Tags[0].Value = "changed"
		g.Rules = append(g.Rules[:1], g.Rules[2:]...)
	}
}

// A key whose stored bytes changed decodes to its new content.
func TestGroupCacheFollowsTheStoredBytes(t *testing.T) {
	var c groupCache
	for n := range 4 {
		want := cacheTestGroup(n)
		raw, _ := json.Marshal(want)
		var g model.SecurityGroup
		if err := c.decode("k1", raw, &g); err != nil {
			t.Fatal(err)
		}
		if len(g.Rules) != n || !reflect.DeepEqual(g, want) {
			t.Fatalf("version %d: decoded %d rules, want %d", n, len(g.Rules), n)
		}
	}
	var g model.SecurityGroup
	if err := c.decode("k1", []byte(`{"id":`), &g); err == nil {
		t.Fatal("bad JSON decoded without error")
	}
}

// The cache keeps within maxGroupCacheBytes however many groups pass.
func TestGroupCacheIsBounded(t *testing.T) {
	var c groupCache
	raw, _ := json.Marshal(cacheTestGroup(60))
	for i := range 2 * maxGroupCacheBytes / len(raw) {
		var g model.SecurityGroup
		if err := c.decode(fmt.Sprint("k", i), raw, &g); err != nil {
			t.Fatal(err)
		}
	}
	if c.bytes > maxGroupCacheBytes || c.bytes != len(c.m)*len(raw) { // one version per key here
		t.Fatalf("%d bytes in %d entries, bound %d", c.bytes, len(c.m), maxGroupCacheBytes)
	}
}

// A group that comes back to a recent state is a hit; versions beyond
// groupVersions are dropped, least recently used first.
func TestGroupCacheKeepsRecentVersions(t *testing.T) {
	var c groupCache
	raws := make([][]byte, groupVersions+1)
	for i := range raws {
		raws[i], _ = json.Marshal(cacheTestGroup(i))
	}
	decode := func(i int) {
		t.Helper()
		var g model.SecurityGroup
		if err := c.decode("k", raws[i], &g); err != nil || len(g.Rules) != i {
			t.Fatalf("version %d: %d rules, %v", i, len(g.Rules), err)
		}
	}
	cached := func(i int) bool {
		_, ok := c.lookup("k", raws[i])
		return ok
	}
	for i := range groupVersions {
		decode(i)
	}
	decode(0) // most recently used again
	decode(groupVersions)
	if !cached(0) || cached(1) || !cached(groupVersions) {
		t.Fatalf("after using 0 again and adding %d: 0 cached %v, 1 cached %v", groupVersions, cached(0), cached(1))
	}
	total := 0
	for _, v := range c.m["k"] {
		total += len(v.raw)
	}
	if len(c.m["k"]) != groupVersions || c.bytes != total {
		t.Fatalf("%d versions, %d bytes counted of %d", len(c.m["k"]), c.bytes, total)
	}
}

// Through the service: a failed change leaves the group as stored, and a
// caller changing a described group changes nothing stored.
func TestGroupReadsAfterFailedChange(t *testing.T) {
	s := newTestService(t)
	ctx := context.Background()
	g, err := s.CreateSecurityGroup(ctx, alice, CreateSecurityGroupInput{Name: "web", Description: "d"})
	if err != nil {
		t.Fatal(err)
	}
	ref := GroupRef{ID: string(g.ID)}
	if _, err := s.Authorize(ctx, alice, AuthorizeInput{Group: ref, Direction: model.Ingress,
		Permissions: []model.PermissionSpec{tcpFrom(22, 22, "10.0.0.0/8")}}); err != nil {
		t.Fatal(err)
	}
	// Two rules, the second a duplicate: the first is appended to the
	// group read in the transaction, then the whole change fails.
	_, err = s.Authorize(ctx, alice, AuthorizeInput{Group: ref, Direction: model.Ingress,
		Permissions: []model.PermissionSpec{tcpFrom(80, 80, "10.1.0.0/16"), tcpFrom(22, 22, "10.0.0.0/8")}})
	wantCode(t, err, "InvalidPermission.Duplicate")
	for range 2 {
		got, _, err := s.DescribeSecurityGroups(ctx, alice, DescribeSecurityGroupsInput{IDs: []string{string(g.ID)}})
		if err != nil {
			t.Fatal(err)
		}
		if in := got[0].RulesOf(model.Ingress); len(in) != 1 || in[0].Ports.From != 22 {
			t.Fatalf("ingress rules %+v, want only tcp 22", in)
		}
		got[0].Rules[0].Ports = model.PortRange{From: 1, To: 1}
		got[0].Rules = got[0].Rules[:0]
	}
}

// What a write puts in the cache is what decoding the stored bytes gives:
// after every kind of change, each group the store holds, read through the
// cache, equals its stored JSON decoded afresh, and the read after a
// group's own write (create, rule change) is a hit.
func TestGroupCacheWritesDecodeTheSame(t *testing.T) {
	s := newTestService(t)
	ctx := context.Background()
	v := mustVPC(t, s, alice, "10.1.0.0/16", true)
	web := mustGroup(t, s, alice, "web", string(v.ID))
	db := mustGroup(t, s, alice, "db", string(v.ID))
	ref := GroupRef{ID: string(web.ID)}
	check := func(step string, wantHit bool) {
		t.Helper()
		page, err := s.st.List(ctx, kindPrefix(alice, kindGroup), store.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, kv := range page.KVs {
			cached, hit := s.groups.lookup(kv.Key, kv.Value)
			if !hit {
				if wantHit {
					t.Errorf("%s: %s not cached after its write", step, kv.Key)
				}
				continue
			}
			var fresh model.SecurityGroup
			if err := json.Unmarshal(kv.Value, &fresh); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(cached.g, fresh) {
				t.Errorf("%s: %s cached as\n%+v\ndecodes to\n%+v", step, kv.Key, cached.g, fresh)
			}
		}
	}
	check("created", true)
	perms := []model.PermissionSpec{
		tcpFrom(443, 443, "10.0.0.0/8"),
		{Protocol: "6", FromPort: i32(22), ToPort: i32(22), IPv4: []model.SourceSpec{{Value: "192.0.2.7/32", Description: "bastion"}}},
		{Protocol: "-1", IPv6: []model.SourceSpec{{Value: "2001:db8::/32"}}},
		{Protocol: "icmp", FromPort: i32(3), ToPort: i32(4), IPv4: []model.SourceSpec{{Value: "0.0.0.0/0"}}},
		{Protocol: "58", FromPort: i32(-1), ToPort: i32(-1), IPv6: []model.SourceSpec{{Value: "::/0"}}},
		fromGroup("udp", 53, 53, db.ID),
	}
	added, err := s.Authorize(ctx, alice, AuthorizeInput{Group: ref, Direction: model.Ingress, Permissions: perms,
		Tags: model.Tags{{Key: "team", Value: "ops"}}})
	if err != nil {
		t.Fatal(err)
	}
	check("authorized", true)
	if _, err := s.Revoke(ctx, alice, RevokeInput{Group: ref, Direction: model.Ingress, RuleIDs: []string{string(added[0].Rule.ID)}}); err != nil {
		t.Fatal(err)
	}
	check("revoked", true)
	if _, err := s.Revoke(ctx, alice, RevokeInput{Group: GroupRef{ID: string(db.ID)}, Direction: model.Egress,
		Permissions: []model.PermissionSpec{{Protocol: "-1", IPv4: []model.SourceSpec{{Value: "0.0.0.0/0"}}, IPv6: []model.SourceSpec{{Value: "::/0"}}}}}); err != nil {
		t.Fatal(err)
	}
	check("egress emptied", true)
	if err := s.CreateTags(ctx, alice, []string{string(web.ID)}, model.Tags{{Key: "Name", Value: "web tier"}}); err != nil {
		t.Fatal(err)
	}
	check("tagged", false)
}

// Describing groups by ID alone reads them one by one; it answers what
// selecting them from the list of all answers, errors included.
func TestGroupsByIDAsFromTheList(t *testing.T) {
	s := newTestService(t)
	ctx := context.Background()
	v := mustVPC(t, s, alice, "10.1.0.0/16", true)
	web := string(mustGroup(t, s, alice, "web", string(v.ID)).ID)
	db := string(mustGroup(t, s, alice, "db", string(v.ID)).ID)
	missing := "sg-0123456789abcdef0"
	for _, ids := range [][]string{{web}, {db, web}, {web, web, db}, {web, missing}, {missing, web}, {"sg-bad", web},
		{web, "nope"}, {db, db}} {
		err := s.read(ctx, alice, "test", func(tx *tx) error {
			got, gotErr := groupsByID(tx, ids)
			all, err := list[model.SecurityGroup](tx, kindGroup)
			if err != nil {
				return err
			}
			want, wantErr := selectByID(all, ids, model.KindGroup, func(g model.SecurityGroup) string { return string(g.ID) })
			if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || !reflect.DeepEqual(got, want) {
				t.Errorf("%v: by ID %v, %v; from the list %v, %v", ids, got, gotErr, want, wantErr)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
