package service

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/store"
	"palisade.dev/palisade/internal/store/bolt"
)

// Tests of the secondary indexes (index.go, addresses.go): they must give
// the answers the scans they replace gave, stay true under concurrent
// writers and restarts, and be rebuilt for a store written without them.

func openBolt(t *testing.T, path string) store.Store {
	t.Helper()
	st, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func mustSubnet(t *testing.T, s *Service, c Caller, vpc model.VpcID, cidr, v6 string) *model.Subnet {
	t.Helper()
	sn, err := s.CreateSubnet(ctx, c, CreateSubnetInput{VpcID: string(vpc), CIDR: cidr, IPv6CIDR: v6})
	if err != nil {
		t.Fatal(err)
	}
	return sn
}

func mustENI(t *testing.T, s *Service, c Caller, in CreateNetworkInterfaceInput) *NetworkInterface {
	t.Helper()
	n, err := s.CreateNetworkInterface(ctx, c, in)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func mustRun(t *testing.T, s *Service, c Caller, in RunInstancesInput) *Reservation {
	t.Helper()
	one := int32(1)
	if in.MinCount == nil {
		in.MinCount, in.MaxCount = &one, &one
	}
	in.ImageID = "lab"
	r, err := s.RunInstances(ctx, c, in)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func wantAWSError(t *testing.T, err error, code, msg string) {
	t.Helper()
	if model.CodeOf(err) != code || err == nil || !strings.Contains(err.Error(), msg) {
		t.Fatalf("err = %v, want %s containing %q", err, code, msg)
	}
}

// checkIndexes compares every index of c's scope with the resources it is
// derived from, as a rebuild would: used addresses bit for bit, the
// heads' counts and marks, ClientTokens, default groups, the instance
// count, and no empty chunk left behind.
func checkIndexes(t *testing.T, s *Service, c Caller) {
	t.Helper()
	if err := s.ensureDefaults(ctx, c); err != nil {
		t.Fatal(err)
	}
	_, err := s.st.Txn(ctx, func(stx store.Tx) error { // not s.read: its errors would say InternalError
		tx := &tx{Tx: stx, s: s, c: c}
		enis, err := list[eniRecord](tx, kindENI)
		if err != nil {
			return err
		}
		subnets, err := list[model.Subnet](tx, kindSubnet)
		if err != nil {
			return err
		}
		for i := range subnets {
			if err := checkSubnetIndex(tx, &subnets[i], enis); err != nil {
				return err
			}
		}
		return checkOtherIndexes(tx, enis)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func checkSubnetIndex(tx *tx, sn *model.Subnet, enis []eniRecord) error {
	want := map[netip.Addr]model.ENIID{}
	used4 := 0
	for _, e := range enis {
		if e.Subnet != sn.ID {
			continue
		}
		for _, a := range e.Addrs() {
			if holder, dup := want[a]; dup {
				return fmt.Errorf("%s held by %s and %s", a, holder, e.ID)
			}
			want[a] = e.ID
			if a.Is4() {
				used4++
			}
		}
	}
	p, err := tx.pools().of(sn)
	if err != nil {
		return err
	}
	if p.headDirty {
		return fmt.Errorf("subnet %s has no index", sn.ID)
	}
	if p.head.Used4 != used4 {
		return fmt.Errorf("subnet %s: head counts %d IPv4 addresses, interfaces hold %d", sn.ID, p.head.Used4, used4)
	}
	page, err := tx.List(poolHeadKey(tx.c, sn.ID)+"/", store.ListOptions{})
	if err != nil {
		return err
	}
	set := 0
	for _, kv := range page.KVs {
		var c poolChunk
		if err := c.decode(kv.Value); err != nil {
			return err
		}
		if c.zero() {
			return fmt.Errorf("empty chunk %s", kv.Key)
		}
		for _, w := range c.words {
			set += bits.OnesCount64(w)
		}
	}
	if set != len(want) {
		return fmt.Errorf("subnet %s: %d addresses marked, interfaces hold %d", sn.ID, set, len(want))
	}
	for a := range want {
		if c, w, mask, _, err := p.bit(a); err != nil || c == nil || c.words[w]&mask == 0 {
			return fmt.Errorf("subnet %s: %s of %s not marked (%v)", sn.ID, a, want[a], err)
		}
	}
	// The marks promise that nothing below them is free.
	for _, fam := range []struct {
		pfx  netip.Prefix
		next uint64
	}{{sn.CIDR, p.head.Next4}, {sn.IPv6CIDR, p.head.Next6}} {
		if !fam.pfx.IsValid() {
			continue
		}
		for off := uint64(reservedHead); off < fam.next; off++ {
			if _, ok := want[addrAt(fam.pfx, off)]; !ok {
				return fmt.Errorf("subnet %s: %s is free but below the mark %d", sn.ID, addrAt(fam.pfx, off), fam.next)
			}
		}
	}
	return nil
}

func checkOtherIndexes(tx *tx, enis []eniRecord) error {
	tokens := 0
	for _, e := range enis {
		if e.ClientToken == "" {
			continue
		}
		tokens++
		if got, err := tx.eniByToken(e.ClientToken); err != nil || got == nil || got.ID != e.ID {
			return fmt.Errorf("token %q finds %v, want %s (%v)", e.ClientToken, got, e.ID, err)
		}
	}
	if n, err := countKeys(tx, "eni-token/"); err != nil || n != tokens {
		return fmt.Errorf("%d token entries for %d tokens (%v)", n, tokens, err)
	}
	groups, err := list[model.SecurityGroup](tx, kindGroup)
	if err != nil {
		return err
	}
	defaults := 0
	for _, g := range groups {
		if g.IsDefault() {
			defaults++
			if id, err := tx.defaultGroup(g.VPC); err != nil || id != g.ID {
				return fmt.Errorf("default group of %s: %s, want %s (%v)", g.VPC, id, g.ID, err)
			}
		}
	}
	if n, err := countKeys(tx, "default-sg/"); err != nil || n != defaults {
		return fmt.Errorf("%d default group entries for %d (%v)", n, defaults, err)
	}
	insts, err := tx.liveInstances()
	if err != nil {
		return err
	}
	active := 0
	for _, r := range insts {
		if r.State != model.StateTerminated {
			active++
		}
		if r.ClientToken != "" {
			ids, err := tx.runToken(r.ClientToken)
			if err != nil || !slices.Contains(ids, r.ID) {
				return fmt.Errorf("token %q lists %v, not %s (%v)", r.ClientToken, ids, r.ID, err)
			}
		}
	}
	if n, err := tx.activeInstances(); err != nil || n != active {
		return fmt.Errorf("instance count %d, %d not terminated (%v)", n, active, err)
	}
	if v, ok, err := tx.getIndex(indexedKey(tx.c)); err != nil || !ok || string(v) != indexVersion {
		return fmt.Errorf("indexed marker %q %v %v", v, ok, err)
	}
	return nil
}

func countKeys(tx *tx, rest string) (int, error) {
	page, err := tx.List(indexKey(tx.c, rest), store.ListOptions{})
	return len(page.KVs), err
}

// dropIndexes deletes every index key, as in a store the code before the
// indexes wrote.
func dropIndexes(t *testing.T, st store.Store) {
	t.Helper()
	page, err := st.List(ctx, model.IndexRoot, store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.KVs) == 0 {
		t.Fatal("no index keys to drop")
	}
	for chunk := range slices.Chunk(page.KVs, store.MaxTxnWrites) {
		_, err := st.Txn(ctx, func(tx store.Tx) error {
			for _, kv := range chunk {
				if err := tx.Delete(kv.Key); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// Concurrent creates (and deletes) in one subnet never hand out one
// address twice, and leave the index equal to a rebuild. Bolt runs
// concurrent transactions in group-committed batches, the case where a
// stale read would show.
func TestConcurrentCreatesGetDistinctAddresses(t *testing.T) {
	st := openBolt(t, filepath.Join(t.TempDir(), "palisade.db"))
	t.Cleanup(func() { st.Close() })
	s := newTestServiceOn(t, st, DefaultConfig())
	v := mustVPC(t, s, alice, "10.0.0.0/16", true)
	sn := mustSubnet(t, s, alice, v.ID, "10.0.0.0/24", ipv6Block(v, 0))
	const workers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	addrs := make(chan netip.Addr, workers*each*2)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				n, err := s.CreateNetworkInterface(ctx, alice, CreateNetworkInterfaceInput{SubnetID: string(sn.ID), IPv6AddressCount: 1,
					ClientToken: fmt.Sprintf("w%d-%d", w, i)})
				if err != nil {
					errs <- err
					continue
				}
				addrs <- n.PrivateIPs[0]
				addrs <- n.IPv6s[0]
				if i%5 == 4 { // free some, so that creates also refill holes
					if err := s.DeleteNetworkInterface(ctx, alice, string(n.ID)); err != nil {
						errs <- err
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	close(addrs)
	for err := range errs {
		t.Fatal(err)
	}
	checkIndexes(t, s, alice)
	enis, _, err := s.DescribeNetworkInterfaces(ctx, alice, DescribeNetworkInterfacesInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(enis) != workers*each*4/5 {
		t.Fatalf("%d interfaces", len(enis))
	}
	seen := map[netip.Addr]bool{}
	for _, n := range enis {
		for _, a := range n.Addrs() {
			if seen[a] {
				t.Fatalf("%s handed out twice", a)
			}
			seen[a] = true
		}
	}
	// Freed addresses were handed out again: at most 160 survivors and one
	// interface per worker about to be deleted were ever held at once, so
	// lowest-free allocation never went higher.
	most := uint64(reservedHead + len(enis) + workers)
	for a := range addrs {
		pfx := sn.CIDR
		if a.Is6() {
			pfx = sn.IPv6CIDR
		}
		if !pfx.Contains(a) || offsetOf(pfx, a) >= most {
			t.Fatalf("%s handed out: outside the subnet, or not the lowest free", a)
		}
	}
}

// ipv6Block returns the i-th /64 of a VPC's /56.
func ipv6Block(v *model.VPC, i int) string {
	b := v.IPv6CIDR.Addr().As16()
	b[7] = byte(i)
	return netip.PrefixFrom(netip.AddrFrom16(b), 64).String()
}

// A freed address, IPv4 or IPv6, by DeleteNetworkInterface or by
// TerminateInstances, is the next one handed out; claiming a used one is
// the error it always was, and claiming a freed one works.
func TestFreedAddressesAreReused(t *testing.T) {
	s := newTestServiceOn(t, newMem(t), DefaultConfig())
	v := mustVPC(t, s, alice, "10.0.0.0/16", true)
	sn := mustSubnet(t, s, alice, v.ID, "10.0.1.0/24", ipv6Block(v, 1))
	sub := string(sn.ID)
	var enis []*NetworkInterface
	for range 4 {
		enis = append(enis, mustENI(t, s, alice, CreateNetworkInterfaceInput{SubnetID: sub, IPv6AddressCount: 2}))
	}
	if got := enis[3].PrivateIPs[0]; got != netip.MustParseAddr("10.0.1.7") {
		t.Fatalf("fourth interface got %s", got)
	}
	if err := s.DeleteNetworkInterface(ctx, alice, string(enis[1].ID)); err != nil {
		t.Fatal(err)
	}
	n := mustENI(t, s, alice, CreateNetworkInterfaceInput{SubnetID: sub, IPv6AddressCount: 2})
	if n.PrivateIPs[0] != enis[1].PrivateIPs[0] || !slices.Equal(n.IPv6s, enis[1].IPv6s) {
		t.Fatalf("got %v %v, want the freed %v %v", n.PrivateIPs, n.IPv6s, enis[1].PrivateIPs, enis[1].IPv6s)
	}

	_, err := s.CreateNetworkInterface(ctx, alice, CreateNetworkInterfaceInput{SubnetID: sub, PrivateIP: "10.0.1.5"})
	wantAWSError(t, err, model.CodeInvalidIPAddressInUse, "Address 10.0.1.5 is in use.")
	one := int32(1)
	_, err = s.RunInstances(ctx, alice, RunInstancesInput{ImageID: "lab", MinCount: &one, MaxCount: &one, SubnetID: sub, PrivateIP: "10.0.1.6"})
	wantAWSError(t, err, model.CodeInvalidIPAddressInUse, "Address 10.0.1.6 is in use.")

	// An instance's interface is freed when the instance terminates.
	r := mustRun(t, s, alice, RunInstancesInput{SubnetID: sub, PrivateIP: "10.0.1.200"})
	if _, err := s.TerminateInstances(ctx, alice, []string{string(r.Instances[0].ID)}); err != nil {
		t.Fatal(err)
	}
	mustENI(t, s, alice, CreateNetworkInterfaceInput{SubnetID: sub, PrivateIP: "10.0.1.200"})
	if err := s.DeleteNetworkInterface(ctx, alice, string(enis[0].ID)); err != nil {
		t.Fatal(err)
	}
	r = mustRun(t, s, alice, RunInstancesInput{SubnetID: sub})
	if got := r.Instances[0].PrivateIP; got != enis[0].PrivateIPs[0] {
		t.Fatalf("launch got %s, want the freed %s", got, enis[0].PrivateIPs[0])
	}
	checkIndexes(t, s, alice)
}

// ClientTokens are found through the index: a retry returns the first
// interface, other parameters are a mismatch, and once the interface is
// deleted the token makes a new one, as with the scan.
func TestENIClientTokenIndex(t *testing.T) {
	s := newTestServiceOn(t, newMem(t), DefaultConfig())
	def := defaultSubnetOf(t, s, alice)
	for _, token := range []string{"plain", "with/slash and %41 ?#"} {
		in := CreateNetworkInterfaceInput{SubnetID: string(def.ID), ClientToken: token}
		first := mustENI(t, s, alice, in)
		if again := mustENI(t, s, alice, in); again.ID != first.ID {
			t.Fatalf("retry made %s, want %s", again.ID, first.ID)
		}
		in.Description = "other"
		_, err := s.CreateNetworkInterface(ctx, alice, in)
		wantAWSError(t, err, "IdempotentParameterMismatch", "inconsistent")
		in.Description = ""
		if err := s.DeleteNetworkInterface(ctx, alice, string(first.ID)); err != nil {
			t.Fatal(err)
		}
		if next := mustENI(t, s, alice, in); next.ID == first.ID {
			t.Fatal("a deleted interface's token still finds it")
		}
	}
	checkIndexes(t, s, alice)
}

func defaultSubnetOf(t *testing.T, s *Service, c Caller) *model.Subnet {
	t.Helper()
	sns, _, err := s.DescribeSubnets(ctx, c, nil, []Filter{{Name: "default-for-az", Values: []string{"true"}}, {Name: "availability-zone", Values: []string{c.Region + "a"}}}, Page{})
	if err != nil || len(sns) != 1 {
		t.Fatalf("default subnet: %v %v", sns, err)
	}
	return &sns[0]
}

// Index keys live outside the resources the agent watches: every key
// under model.ResourceRoot still parses as a resource, and the indexes
// are under model.IndexRoot. Deleting a subnet and a VPC leaves no index
// key of theirs behind.
func TestIndexKeysAreNotResources(t *testing.T) {
	st := newMem(t)
	s := newTestServiceOn(t, st, DefaultConfig())
	v := mustVPC(t, s, alice, "10.0.0.0/16", false)
	sn := mustSubnet(t, s, alice, v.ID, "10.0.0.0/24", "")
	n := mustENI(t, s, alice, CreateNetworkInterfaceInput{SubnetID: string(sn.ID), ClientToken: "t"})
	mustRun(t, s, alice, RunInstancesInput{ClientToken: "r"})
	page, err := st.List(ctx, model.ResourceRoot, store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range page.KVs {
		if _, kind, id, ok := model.ParseResourceKey(kv.Key); !ok || strings.Contains(id, "/") || kind == "" {
			t.Errorf("%s is not a resource key", kv.Key)
		}
	}
	idx, err := st.List(ctx, model.IndexPrefix(alice.Account, alice.Region), store.ListOptions{})
	if err != nil || len(idx.KVs) == 0 {
		t.Fatalf("no index keys: %v", err)
	}
	if err := s.DeleteNetworkInterface(ctx, alice, string(n.ID)); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSubnet(ctx, alice, string(sn.ID)); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteVpc(ctx, alice, string(v.ID)); err != nil {
		t.Fatal(err)
	}
	idx, err = st.List(ctx, model.IndexRoot, store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range idx.KVs {
		if strings.Contains(kv.Key, string(sn.ID)) || strings.Contains(kv.Key, string(v.ID)) || strings.Contains(kv.Key, "eni-token/") {
			t.Errorf("%s left behind", kv.Key)
		}
	}
	checkIndexes(t, s, alice)
}

// The indexes are in the store: a restarted server reads them and builds
// nothing (its first request writes nothing), and allocates as before.
func TestIndexesSurviveRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "palisade.db")
	st := openBolt(t, path)
	s := newTestServiceOn(t, st, DefaultConfig())
	v := mustVPC(t, s, alice, "10.0.0.0/16", false)
	sn := mustSubnet(t, s, alice, v.ID, "10.0.0.0/24", "")
	sub := string(sn.ID)
	first := mustENI(t, s, alice, CreateNetworkInterfaceInput{SubnetID: sub, ClientToken: "keep"})
	mustENI(t, s, alice, CreateNetworkInterfaceInput{SubnetID: sub, PrivateIP: "10.0.0.5"})
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st = openBolt(t, path)
	t.Cleanup(func() { st.Close() })
	s = newTestServiceOn(t, st, DefaultConfig())
	rev, _ := st.Revision(ctx)
	if _, _, err := s.DescribeNetworkInterfaces(ctx, alice, DescribeNetworkInterfacesInput{}); err != nil {
		t.Fatal(err)
	}
	if after, _ := st.Revision(ctx); after != rev {
		t.Fatalf("the first request after a restart wrote (revision %d to %d)", rev, after)
	}
	if again := mustENI(t, s, alice, CreateNetworkInterfaceInput{SubnetID: sub, ClientToken: "keep"}); again.ID != first.ID {
		t.Fatalf("token after restart made %s, want %s", again.ID, first.ID)
	}
	_, err := s.CreateNetworkInterface(ctx, alice, CreateNetworkInterfaceInput{SubnetID: sub, PrivateIP: "10.0.0.5"})
	wantAWSError(t, err, model.CodeInvalidIPAddressInUse, "Address 10.0.0.5 is in use.")
	if got := mustENI(t, s, alice, CreateNetworkInterfaceInput{SubnetID: sub}).PrivateIPs[0]; got != netip.MustParseAddr("10.0.0.6") {
		t.Fatalf("got %s, want 10.0.0.6 (.4 and .5 are used)", got)
	}
	checkIndexes(t, s, alice)
}

// A store written before the indexes (simulated by deleting them) gets
// them built by the first request of each scope, over several
// transactions when one would not hold them, and then allocates, finds
// tokens, counts instances and resolves default groups as before.
func TestStoreWithoutIndexes(t *testing.T) {
	st := newMem(t)
	s := newTestServiceOn(t, st, DefaultConfig())
	v := mustVPC(t, s, alice, "10.0.0.0/16", true)
	var subnets []*model.Subnet
	for i := range 40 { // more subnets than one migration transaction builds
		subnets = append(subnets, mustSubnet(t, s, alice, v.ID, fmt.Sprintf("10.0.%d.0/24", i), ipv6Block(v, i)))
	}
	var enis []*NetworkInterface
	for i := range 150 { // more tokens than one migration transaction indexes
		enis = append(enis, mustENI(t, s, alice, CreateNetworkInterfaceInput{SubnetID: string(subnets[i%len(subnets)].ID),
			IPv6AddressCount: 1, ClientToken: fmt.Sprintf("eni-%d", i)}))
	}
	if err := s.DeleteNetworkInterface(ctx, alice, string(enis[0].ID)); err != nil { // a hole at .4 of subnet 0
		t.Fatal(err)
	}
	res := mustRun(t, s, alice, RunInstancesInput{SubnetID: string(subnets[1].ID), ClientToken: "run"})
	doomed := mustRun(t, s, alice, RunInstancesInput{SubnetID: string(subnets[1].ID)})
	if _, err := s.TerminateInstances(ctx, alice, []string{string(doomed.Instances[0].ID)}); err != nil {
		t.Fatal(err)
	}
	bobby := Caller{Account: "210987654321", Region: "eu-west-1"} // another scope, built on its own
	mustENI(t, s, bobby, CreateNetworkInterfaceInput{SubnetID: string(defaultSubnetOf(t, s, bobby).ID), ClientToken: "eni-1"})
	dropIndexes(t, st)

	s = newTestServiceOn(t, st, DefaultConfig())
	checkIndexes(t, s, alice)
	checkIndexes(t, s, bobby)

	sub0 := string(subnets[0].ID)
	if got := mustENI(t, s, alice, CreateNetworkInterfaceInput{SubnetID: sub0, IPv6AddressCount: 1}); got.PrivateIPs[0] != enis[0].PrivateIPs[0] || got.IPv6s[0] != enis[0].IPv6s[0] {
		t.Fatalf("got %v %v, want the hole %v %v", got.PrivateIPs, got.IPv6s, enis[0].PrivateIPs, enis[0].IPv6s)
	}
	next := mustENI(t, s, alice, CreateNetworkInterfaceInput{SubnetID: sub0})
	if want := netip.MustParseAddr("10.0.0.8"); next.PrivateIPs[0] != want { // .5 .6 .7 held since before
		t.Fatalf("got %s, want %s", next.PrivateIPs[0], want)
	}
	_, err := s.CreateNetworkInterface(ctx, alice, CreateNetworkInterfaceInput{SubnetID: sub0, PrivateIP: enis[40].PrivateIPs[0].String()})
	wantAWSError(t, err, model.CodeInvalidIPAddressInUse, "is in use.")
	if again := mustENI(t, s, alice, CreateNetworkInterfaceInput{SubnetID: string(subnets[149%40].ID), IPv6AddressCount: 1, ClientToken: "eni-149"}); again.ID != enis[149].ID {
		t.Fatalf("token eni-149 made %s, want %s", again.ID, enis[149].ID)
	}
	again := mustRun(t, s, alice, RunInstancesInput{SubnetID: string(subnets[1].ID), ClientToken: "run"})
	if again.ID != res.ID || again.Instances[0].ID != res.Instances[0].ID {
		t.Fatalf("retried launch %s, want %s", again.ID, res.ID)
	}
	if g := mustENI(t, s, alice, CreateNetworkInterfaceInput{SubnetID: sub0}).GroupSet; len(g) != 1 || g[0].Name != model.DefaultGroupName {
		t.Fatalf("groups %+v, want the default group", g)
	}
	checkIndexes(t, s, alice)
}

// A migration interrupted halfway (a crash between its transactions) is
// finished by the next server; one that meets a finished migration
// stops.
func TestInterruptedMigration(t *testing.T) {
	st := newMem(t)
	s := newTestServiceOn(t, st, DefaultConfig())
	sub := string(defaultSubnetOf(t, s, alice).ID)
	for i := range 100 {
		mustENI(t, s, alice, CreateNetworkInterfaceInput{SubnetID: sub, ClientToken: fmt.Sprintf("t%d", i)})
	}
	dropIndexes(t, st)
	s = newTestServiceOn(t, st, DefaultConfig())
	errCrash := errors.New("crash")
	step := migration{}
	for step.phase != migrateENITokens || step.after == "" { // stop after the first page of tokens
		if step.phase == migrationDone {
			t.Fatal("the migration ended before a second page of tokens")
		}
		_, err := st.Txn(ctx, func(stx store.Tx) error {
			t := &tx{Tx: stx, s: s, c: alice}
			next, err := t.migrate(step)
			if err == nil {
				err = t.flushIndexes()
			}
			step = next
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// A half-done transaction writes nothing.
	_, err := st.Txn(ctx, func(stx store.Tx) error {
		t := &tx{Tx: stx, s: s, c: alice}
		if _, err := t.migrate(step); err != nil {
			return err
		}
		return errCrash
	})
	if !errors.Is(err, errCrash) {
		t.Fatal(err)
	}
	s = newTestServiceOn(t, st, DefaultConfig())
	if got := mustENI(t, s, alice, CreateNetworkInterfaceInput{SubnetID: sub}).PrivateIPs[0]; got != netip.MustParseAddr("172.31.0.104") {
		t.Fatalf("got %s after 100 interfaces", got)
	}
	checkIndexes(t, s, alice)
	if err := s.ensureIndexes(context.Background(), alice); err != nil {
		t.Fatal(err)
	}
}

// RunInstances still launches 50 instances per call, the index keys of
// their addresses included (500 IPv6 addresses fall into one chunk), and
// when the index keys leave less room than count planned for, it launches
// as many as fit instead of failing the transaction.
func TestRunInstancesWithinTxnWrites(t *testing.T) {
	s := newTestServiceOn(t, newMem(t), DefaultConfig())
	v := mustVPC(t, s, alice, "10.0.0.0/16", true)
	a := mustSubnet(t, s, alice, v.ID, "10.0.0.0/20", ipv6Block(v, 0))
	b := mustSubnet(t, s, alice, v.ID, "10.0.16.0/20", ipv6Block(v, 1))
	fifty := int32(50)
	res := mustRun(t, s, alice, RunInstancesInput{SubnetID: string(a.ID), MinCount: &fifty, MaxCount: &fifty, IPv6AddressCount: 10, ClientToken: "fifty"})
	if len(res.Instances) != 50 {
		t.Fatalf("launched %d", len(res.Instances))
	}
	zero, one := int32(0), int32(1)
	two := []InterfaceSpec{{DeviceIndex: &zero, SubnetID: string(a.ID)}, {DeviceIndex: &one, SubnetID: string(b.ID)}}
	res = mustRun(t, s, alice, RunInstancesInput{MinCount: &one, MaxCount: &fifty, Interfaces: two})
	// count allows 128/3 = 42; two heads and two chunks leave room for 41.
	if len(res.Instances) != 41 {
		t.Fatalf("launched %d, want 41", len(res.Instances))
	}
	fortyTwo := int32(42)
	_, err := s.RunInstances(ctx, alice, RunInstancesInput{ImageID: "lab", MinCount: &fortyTwo, MaxCount: &fifty, Interfaces: two})
	wantAWSError(t, err, "InstanceLimitExceeded", "more instances (42)")
	checkIndexes(t, s, alice)
}

// listCounter is a store that counts the Lists of transactions.
type listCounter struct {
	store.Store
	mu    sync.Mutex
	lists []string // prefixes listed
}

func (s *listCounter) Txn(ctx context.Context, fn func(store.Tx) error) (int64, error) {
	return s.Store.Txn(ctx, func(tx store.Tx) error { return fn(&listCountingTx{tx, s}) })
}

func (s *listCounter) View(ctx context.Context, fn func(store.Tx) error) (int64, error) {
	return s.Store.View(ctx, func(tx store.Tx) error { return fn(&listCountingTx{tx, s}) })
}

func (s *listCounter) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.lists
	s.lists = nil
	return out
}

type listCountingTx struct {
	store.Tx
	s *listCounter
}

func (tx *listCountingTx) List(prefix string, opts store.ListOptions) (store.Page, error) {
	if prefix == model.HostRoot && opts.Limit == 1 {
		return tx.Tx.List(prefix, opts) // placement steps from host to host: bounded by the hosts, not the account
	}
	tx.s.mu.Lock()
	tx.s.lists = append(tx.s.lists, prefix)
	tx.s.mu.Unlock()
	return tx.Tx.List(prefix, opts)
}

// The write paths on interfaces and instances list nothing: whatever the
// account holds, they read the keys they name and the indexes.
func TestWritePathsListNothing(t *testing.T) {
	st := &listCounter{Store: newMem(t)}
	s := newTestServiceOn(t, st, DefaultConfig())
	v := mustVPC(t, s, alice, "10.0.0.0/16", true)
	sub := string(mustSubnet(t, s, alice, v.ID, "10.0.0.0/24", ipv6Block(v, 0)).ID)
	sg := []string{string(mustGroup(t, s, alice, "web", string(v.ID)).ID)}
	if len(st.take()) == 0 {
		t.Fatal("setting up listed nothing: the counter counts nothing")
	}
	noLists := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if lists := st.take(); len(lists) > 0 {
			t.Errorf("%s listed %v", what, lists)
		}
	}
	create := CreateNetworkInterfaceInput{SubnetID: sub, GroupIDs: sg, IPv6AddressCount: 2, ClientToken: "a"}
	free, err := s.CreateNetworkInterface(ctx, alice, create)
	noLists("create", err)
	_, err = s.CreateNetworkInterface(ctx, alice, create)
	noLists("create again", err)
	_, err = s.CreateNetworkInterface(ctx, alice, CreateNetworkInterfaceInput{SubnetID: sub, PrivateIP: "10.0.0.99"})
	noLists("create in the default group at an address", err)
	run := RunInstancesInput{ImageID: "lab", MinCount: i32(3), MaxCount: i32(3), SubnetID: sub, GroupIDs: sg, ClientToken: "r"}
	res, err := s.RunInstances(ctx, alice, run)
	noLists("launch", err)
	_, err = s.RunInstances(ctx, alice, run)
	noLists("launch again", err)
	inst := res.Instances[0]
	noLists("modify groups", s.ModifyNetworkInterfaceAttribute(ctx, alice, ModifyNetworkInterfaceAttributeInput{
		NetworkInterfaceID: string(inst.Interfaces[0].ID), GroupIDs: sg}))
	_, err = s.AttachNetworkInterface(ctx, alice, AttachNetworkInterfaceInput{NetworkInterfaceID: string(free.ID), InstanceID: string(inst.ID), DeviceIndex: i32(1)})
	noLists("attach", err)
	_, err = s.TerminateInstances(ctx, alice, []string{string(inst.ID)})
	noLists("terminate", err)
	noLists("delete", s.DeleteNetworkInterface(ctx, alice, string(free.ID)))
	checkIndexes(t, s, alice)
}
