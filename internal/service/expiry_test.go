package service_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/service"
	"palisade.dev/palisade/internal/store"
	"palisade.dev/palisade/internal/store/mem"
)

// onMem is a service on a mem store of its own, on the real clock (the
// expiry loop runs on it).
func onMem(t *testing.T) (*service.Service, store.Store, *fixture) {
	st := mem.New(mem.Options{})
	t.Cleanup(func() { st.Close() })
	s, err := service.New(st, service.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return s, st, &fixture{Service: s, clock: &clock{now: time.Now()}, t: t}
}

func expiresAt(t time.Time) model.Tags {
	return model.Tags{{Key: model.ExpiresAtTag, Value: t.UTC().Format(time.RFC3339)}}
}

func ssh(cidr string) []model.PermissionSpec {
	return []model.PermissionSpec{{Protocol: "tcp", FromPort: p32(22), ToPort: p32(22), IPv4: []model.SourceSpec{{Value: cidr}}}}
}

func TestExpiryTagIsValidated(t *testing.T) {
	f := newFixture(t)
	v := f.vpc(bob, "10.3.0.0/16", false)
	g := f.group(bob, "web", v.ID)
	ref := service.GroupRef{ID: string(g.ID)}
	now := f.clock.Now()
	for _, c := range []struct{ value, msg string }{
		{"tomorrow", "must be a time in RFC 3339 format"},
		{"2026-11-25 13:00:00", "must be a time in RFC 3339 format"},
		{now.Add(-time.Second).Format(time.RFC3339), "must be in the future"},
		{now.Format(time.RFC3339), "must be in the future"},
	} {
		_, err := f.Authorize(ctx, bob, service.AuthorizeInput{Group: ref, Direction: model.Ingress, Permissions: ssh("10.0.0.0/8"),
			Tags: model.Tags{{Key: model.ExpiresAtTag, Value: c.value}}})
		wantErr(t, err, model.CodeInvalidParameterValue, c.msg)
	}
	rules, err := f.Authorize(ctx, bob, service.AuthorizeInput{Group: ref, Direction: model.Ingress, Permissions: ssh("10.0.0.0/8")})
	if err != nil {
		t.Fatal(err)
	}
	id := string(rules[0].Rule.ID)
	err = f.CreateTags(ctx, bob, []string{id}, model.Tags{{Key: model.ExpiresAtTag, Value: "soon"}})
	wantErr(t, err, model.CodeInvalidParameterValue, "for tag palisade:expires-at is invalid")
	// On a group the tag means nothing, and is not checked.
	if err := f.CreateTags(ctx, bob, []string{string(g.ID)}, model.Tags{{Key: model.ExpiresAtTag, Value: "soon"}}); err != nil {
		t.Fatal(err)
	}
	_, err = f.ApplyRules(ctx, bob, service.ApplyRulesInput{GroupID: string(g.ID), Direction: model.Ingress,
		Add: ssh("192.0.2.0/24"), AddTags: []model.Tags{{{Key: model.ExpiresAtTag, Value: "1h"}}}})
	wantErr(t, err, model.CodeInvalidParameterValue, "RFC 3339")
	if len(describeRules(t, f, g.ID)) != 2 { // the default egress rule and the one authorized
		t.Fatal("a refused expiry changed the rules")
	}
}

func describeRules(t *testing.T, f *fixture, g model.GroupID) []service.GroupRule {
	t.Helper()
	rules, _, err := f.DescribeSecurityGroupRules(ctx, bob, nil, []service.Filter{{Name: "group-id", Values: []string{string(g)}}}, service.Page{})
	if err != nil {
		t.Fatal(err)
	}
	return rules
}

func TestExpireRulesRevokesOnlyWhatIsDueAndIsIdempotent(t *testing.T) {
	f := newFixture(t)
	v := f.vpc(bob, "10.3.0.0/16", false)
	g := f.group(bob, "web", v.ID)
	ref := service.GroupRef{ID: string(g.ID)}
	now := f.clock.Now()
	soon, err := f.Authorize(ctx, bob, service.AuthorizeInput{Group: ref, Direction: model.Ingress, Permissions: ssh("10.0.0.0/8"), Tags: expiresAt(now.Add(time.Minute))})
	if err != nil {
		t.Fatal(err)
	}
	later, err := f.ApplyRules(ctx, bob, service.ApplyRulesInput{GroupID: string(g.ID), Direction: model.Ingress,
		Add: append(ssh("192.0.2.0/24"), ssh("198.51.100.0/24")...), AddTags: []model.Tags{expiresAt(now.Add(time.Hour))}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := later[1].Rule.ExpiresAt(); ok || len(later) != 2 {
		t.Fatalf("the second added rule got tags it was not given: %+v", later)
	}
	sc := model.Scope{Account: bob.Account, Region: bob.Region}
	got, err := f.ExpireRules(ctx, sc, g.ID, now.Add(30*time.Second))
	if err != nil || len(got) != 0 {
		t.Fatalf("before any expiry: %v, %v", got, err)
	}
	for range 2 { // the second run (another replica) finds nothing to do
		got, err = f.ExpireRules(ctx, sc, g.ID, now.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if len(describeRules(t, f, g.ID)) != 3 {
			t.Fatalf("rules left: %v", describeRules(t, f, g.ID))
		}
	}
	if len(got) != 0 {
		t.Fatalf("second run revoked %v again", got)
	}
	for _, r := range describeRules(t, f, g.ID) {
		if r.Rule.ID == soon[0].Rule.ID {
			t.Fatalf("expired rule %s still listed", r.Rule.ID)
		}
	}
	if got, err := f.ExpireRules(ctx, sc, "sg-0123456789abcdef0", now.Add(time.Hour)); err != nil || len(got) != 0 {
		t.Fatalf("a group that is gone: %v, %v", got, err)
	}
}

// syncBuffer is a log destination the expiry goroutine and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRunExpiryRevokesOnTimeAndOnStart(t *testing.T) {
	st := mem.New(mem.Options{})
	t.Cleanup(func() { st.Close() })
	var logs syncBuffer
	s, err := service.New(st, service.DefaultConfig(), service.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{Service: s, clock: &clock{now: time.Now()}, t: t}
	v := f.vpc(bob, "10.3.0.0/16", false)
	g := f.group(bob, "web", v.ID)
	ref := service.GroupRef{ID: string(g.ID)}
	// RFC 3339 has whole seconds: the rule ends 1-2 s from now.
	at := time.Now().Add(2 * time.Second).Truncate(time.Second)
	past, err := f.Authorize(ctx, bob, service.AuthorizeInput{Group: ref, Direction: model.Ingress, Permissions: ssh("10.0.0.0/8"), Tags: expiresAt(at)})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Authorize2(ref, ssh("172.16.0.0/12")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(at) + 100*time.Millisecond)
	// Started after the expiry (a restart): it revokes what is past at once.
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- s.RunExpiry(rctx) }()
	defer func() { cancel(); <-done }()
	waitRules(t, f, g.ID, 1)
	if !strings.Contains(logs.String(), "rule="+string(past[0].Rule.ID)) {
		t.Fatalf("log does not name the expired rule:\n%s", logs.String())
	}
	// Then a rule authorized while it runs ends on time.
	at = time.Now().Add(2 * time.Second).Truncate(time.Second)
	next, err := f.Authorize(ctx, bob, service.AuthorizeInput{Group: ref, Direction: model.Ingress, Permissions: ssh("192.0.2.0/24"), Tags: expiresAt(at)})
	if err != nil {
		t.Fatal(err)
	}
	waitRules(t, f, g.ID, 1)
	if late := time.Since(at); late > time.Second || late < 0 {
		t.Errorf("revoked %v after its expiry, want within 1 s", late)
	}
	line := ""
	for l := range strings.Lines(logs.String()) {
		if strings.Contains(l, "rule="+string(next[0].Rule.ID)) {
			line = l
		}
	}
	for _, want := range []string{"rule expired", "group=" + string(g.ID), "expires_at=" + at.UTC().Format(time.RFC3339)} {
		if !strings.Contains(line, want) {
			t.Errorf("log line %q lacks %q", line, want)
		}
	}
}

// Authorize2 adds a rule with no expiry.
func (f *fixture) Authorize2(ref service.GroupRef, perms []model.PermissionSpec) error {
	_, err := f.Authorize(ctx, bob, service.AuthorizeInput{Group: ref, Direction: model.Ingress, Permissions: perms})
	return err
}

// waitRules waits (up to 5 s) until group g has n rules besides its
// default egress rule.
func waitRules(t *testing.T, f *fixture, g model.GroupID, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := 0
		for _, r := range describeRules(t, f, g) {
			if r.Rule.Direction == model.Ingress {
				got++
			}
		}
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s has %d ingress rules, want %d", g, got, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A create-tags that moves an expiry later, seen through the watch, keeps
// the rule past its old time; one that moves it sooner ends it then.
func TestRunExpiryFollowsTagChanges(t *testing.T) {
	s, _, f := onMem(t)
	v := f.vpc(bob, "10.3.0.0/16", false)
	g := f.group(bob, "web", v.ID)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- s.RunExpiry(rctx) }()
	defer func() { cancel(); <-done }()
	at := time.Now().Add(2 * time.Second).Truncate(time.Second)
	rules, err := f.Authorize(ctx, bob, service.AuthorizeInput{Group: service.GroupRef{ID: string(g.ID)}, Direction: model.Ingress,
		Permissions: ssh("10.0.0.0/8"), Tags: expiresAt(at)})
	if err != nil {
		t.Fatal(err)
	}
	id := string(rules[0].Rule.ID)
	if err := f.CreateTags(ctx, bob, []string{id}, expiresAt(time.Now().Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(at) + 500*time.Millisecond)
	waitRules(t, f, g.ID, 1)
	soon := time.Now().Add(2 * time.Second).Truncate(time.Second)
	if err := f.CreateTags(ctx, bob, []string{id}, expiresAt(soon)); err != nil {
		t.Fatal(err)
	}
	waitRules(t, f, g.ID, 0)
	if late := time.Since(soon); late > time.Second {
		t.Errorf("revoked %v after the moved expiry", late)
	}
}

// Two replicas on one store both watch and both try: the rule is revoked
// once, and logged once.
func TestRunExpiryOnTwoReplicas(t *testing.T) {
	st := mem.New(mem.Options{})
	t.Cleanup(func() { st.Close() })
	var logs syncBuffer
	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	var f *fixture
	for range 2 {
		s, err := service.New(st, service.DefaultConfig(), service.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
		if err != nil {
			t.Fatal(err)
		}
		f = &fixture{Service: s, clock: &clock{now: time.Now()}, t: t}
		wg.Go(func() { s.RunExpiry(rctx) })
	}
	v := f.vpc(bob, "10.3.0.0/16", false)
	g := f.group(bob, "web", v.ID)
	at := time.Now().Add(2 * time.Second).Truncate(time.Second)
	rules, err := f.Authorize(ctx, bob, service.AuthorizeInput{Group: service.GroupRef{ID: string(g.ID)}, Direction: model.Ingress,
		Permissions: append(ssh("10.0.0.0/8"), ssh("192.0.2.0/24")...), Tags: expiresAt(at)})
	if err != nil {
		t.Fatal(err)
	}
	waitRules(t, f, g.ID, 0)
	time.Sleep(200 * time.Millisecond) // the other replica has tried by now
	for _, r := range rules {
		if n := strings.Count(logs.String(), "rule="+string(r.Rule.ID)); n != 1 {
			t.Errorf("%s logged %d times:\n%s", r.Rule.ID, n, logs.String())
		}
	}
}

// The expiry index holds a key for each group with an expiring rule, the
// earliest expiry of its rules, in step with every change of the group:
// authorize, tag, revoke, delete. A rule change of a group with no
// expiring rule writes nothing there, so the expiry loop that watches it
// is not woken.
func TestExpiryIndexFollowsTheGroup(t *testing.T) {
	_, st, f := onMem(t)
	v := f.vpc(bob, "10.3.0.0/16", false)
	g := f.group(bob, "web", v.ID)
	plain := f.group(bob, "plain", v.ID)
	key := model.ExpiryKey(model.Scope{Account: bob.Account, Region: bob.Region}, string(g.ID))
	index := func() map[string]string {
		t.Helper()
		page, err := st.List(ctx, model.ExpiryRoot, store.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, kv := range page.KVs {
			got[kv.Key] = string(kv.Value)
		}
		return got
	}
	want := func(at time.Time) {
		t.Helper()
		got := index()
		if at.IsZero() {
			if len(got) != 0 {
				t.Fatalf("expiry index %v, want none", got)
			}
			return
		}
		if len(got) != 1 || got[key] != at.UTC().Format(time.RFC3339Nano) {
			t.Fatalf("expiry index %v, want %s at %s", got, key, at.UTC().Format(time.RFC3339Nano))
		}
	}
	ref := service.GroupRef{ID: string(g.ID)}
	later := time.Now().Add(2 * time.Hour).Truncate(time.Second)
	soon := time.Now().Add(time.Hour).Truncate(time.Second)
	rules, err := f.Authorize(ctx, bob, service.AuthorizeInput{Group: ref, Direction: model.Ingress, Permissions: ssh("10.0.0.0/8"), Tags: expiresAt(later)})
	if err != nil {
		t.Fatal(err)
	}
	want(later)
	if _, err := f.Authorize(ctx, bob, service.AuthorizeInput{Group: ref, Direction: model.Ingress, Permissions: ssh("10.1.0.0/16"), Tags: expiresAt(soon)}); err != nil {
		t.Fatal(err)
	}
	want(soon)
	// A rule change of another group writes nothing under the index.
	rev, _ := st.Revision(ctx)
	watch, err := st.Watch(ctx, model.ExpiryRoot, rev)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Authorize(ctx, bob, service.AuthorizeInput{Group: service.GroupRef{ID: string(plain.ID)}, Direction: model.Ingress, Permissions: ssh("10.2.0.0/16")}); err != nil {
		t.Fatal(err)
	}
	select {
	case resp := <-watch:
		t.Fatalf("a plain group's rule change touched the expiry index: %+v", resp)
	case <-time.After(100 * time.Millisecond):
	}
	// Moving the earlier expiry away leaves the other one.
	if err := f.CreateTags(ctx, bob, []string{string(rules[0].Rule.ID)}, expiresAt(soon.Add(-30*time.Minute))); err != nil {
		t.Fatal(err)
	}
	want(soon.Add(-30 * time.Minute))
	if _, err := f.Revoke(ctx, bob, service.RevokeInput{Group: ref, Direction: model.Ingress, RuleIDs: []string{string(rules[0].Rule.ID)}}); err != nil {
		t.Fatal(err)
	}
	want(soon)
	if _, err := f.DeleteSecurityGroup(ctx, bob, ref); err != nil {
		t.Fatal(err)
	}
	want(time.Time{})
}
