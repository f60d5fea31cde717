package dataplane

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
)

// Check compares the kernel's table with what the last Apply made:
// every chain (hook, priority, policy, each rule's expressions), every set
// and map (type, flags, every element with its verdict) and every ct
// timeout object (every state's timeout). Anything missing, added or
// changed is drift; Check then logs the differences and the next Apply
// rebuilds the whole table. Before the first successful Apply there is
// nothing to compare with, and Check reports drift.
func (t *Table) Check() (drift bool, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.last == nil {
		return true, nil
	}
	gen, genOK := t.generation()
	if genOK && t.genKnown && gen == t.gen {
		return false, nil // nothing committed in the namespace since our Apply
	}
	got, err := t.kernelView()
	if err != nil {
		return false, err
	}
	diffs := compareViews(t.last.view(time.Now()), got)
	if len(diffs) == 0 {
		t.gen, t.genKnown = gen, genOK
		return false, nil
	}
	t.log.Warn("the kernel's table differs from the last Apply; the next Apply rebuilds it",
		"differences", len(diffs), "first", diffs[:min(len(diffs), 5)])
	t.last, t.genKnown = nil, false
	return true, nil
}

// A view describes a table as text, one entry per chain, set and object,
// so that the kernel's table and a ruleset compare as plain strings.
type view map[string]string

// view describes rs as the kernel should hold it at now: without the
// elements that time out within checkMargin (expiring.go), which the
// kernel may have dropped already.
func (rs *ruleset) view(now time.Time) view {
	v := view{}
	for _, o := range rs.objs {
		v["obj "+o.name] = fmt.Sprintf("type %d %s", nftables.ObjTypeCtTimeout, describeObj(o))
	}
	for _, s := range rs.sets {
		ids := make([]string, 0, len(s.elems))
		for _, e := range s.elems {
			if e.checked(now) {
				ids = append(ids, e.hexID())
			}
		}
		slices.Sort(ids)
		v["set "+s.name] = describeSet(s.typeText(), s.interval, s.timeout, s.keyLen(), ids)
	}
	for _, c := range rs.chains {
		rules := make([][]expr.Any, len(c.rules))
		for i, r := range c.rules {
			rules[i] = r.exprs
		}
		v["chain "+c.name] = describeChain(c.base, rules)
	}
	return v
}

func describeObj(o *ctTimeoutObj) string {
	keys := make([]uint16, 0, len(o.values))
	for k := range o.values {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "proto %d", o.proto)
	for _, k := range keys {
		fmt.Fprintf(&b, " %d=%d", k, o.values[k])
	}
	return b.String()
}

func describeSet(typ string, interval, timeout bool, keyLen int, ids []string) string {
	return fmt.Sprintf("type %s interval %v timeout %v keylen %d\n%s", typ, interval, timeout, keyLen, strings.Join(ids, "\n"))
}

func describeChain(base *int32, rules [][]expr.Any) string {
	var b strings.Builder
	if base != nil {
		fmt.Fprintf(&b, "filter hook forward priority %d policy drop\n", *base)
	}
	for _, r := range rules {
		for _, e := range r {
			b.WriteString(exprText(e) + "; ")
		}
		b.WriteString("\n")
	}
	return b.String()
}

// exprText writes the fields of an expression that the kernel keeps.
func exprText(e expr.Any) string {
	switch e := e.(type) {
	case *expr.Meta:
		return fmt.Sprintf("meta %d => %d", e.Key, e.Register)
	case *expr.Payload:
		return fmt.Sprintf("payload %d+%d/%d => %d", e.Base, e.Offset, e.Len, e.DestRegister)
	case *expr.Cmp:
		return fmt.Sprintf("cmp %d %d %x", e.Op, e.Register, e.Data)
	case *expr.Lookup:
		return fmt.Sprintf("lookup %d @%s dreg %v/%d inv %v", e.SourceRegister, e.SetName, e.IsDestRegSet, e.DestRegister, e.Invert)
	case *expr.Bitwise:
		return fmt.Sprintf("bitwise %d = (%d & %x) ^ %x /%d", e.DestRegister, e.SourceRegister, e.Mask, e.Xor, e.Len)
	case *expr.Ct:
		return fmt.Sprintf("ct %d => %d", e.Key, e.Register)
	case *expr.Objref:
		return fmt.Sprintf("objref %d %s", e.Type, e.Name)
	case *expr.Verdict:
		return fmt.Sprintf("verdict %d %s", e.Kind, e.Chain)
	case *expr.Counter:
		return "counter" // its values change with traffic: not drift
	case *expr.Log:
		return fmt.Sprintf("log %x group %d snaplen %d prefix %q", e.Key, e.Group, e.Snaplen, e.Data)
	}
	return fmt.Sprintf("%T %+v", e, e)
}

// kernelView reads the table from the kernel.
func (t *Table) kernelView() (view, error) {
	v := view{}
	if exists, err := t.exists(); err != nil || !exists {
		return v, err
	}
	chains, err := t.conn.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return nil, fmt.Errorf("list chains: %w", err)
	}
	for _, c := range chains {
		if c.Table.Name != TableName {
			continue
		}
		rules, err := t.conn.GetRules(t.tbl, c)
		if err != nil {
			return nil, fmt.Errorf("list rules of %s: %w", c.Name, err)
		}
		es := make([][]expr.Any, len(rules))
		for i, r := range rules {
			es[i] = r.Exprs
		}
		v["chain "+c.Name] = describeChain(kernelBase(c), es)
	}
	raw, err := t.rawConn()
	if err != nil {
		return nil, err
	}
	defer raw.Close()
	if err := t.kernelSets(raw, v); err != nil {
		return nil, err
	}
	objs, err := kernelObjs(raw)
	for name, d := range objs {
		v["obj "+name] = d
	}
	return v, err
}

// kernelBase returns the priority of a base chain that is what Palisade
// makes (filter, forward, policy drop); anything else reads as a different
// chain.
func kernelBase(c *nftables.Chain) *int32 {
	if c.Hooknum == nil {
		return nil
	}
	p := int32(1 << 30) // impossible: shows up as a difference
	if c.Type == nftables.ChainTypeFilter && *c.Hooknum == *nftables.ChainHookForward &&
		c.Policy != nil && *c.Policy == nftables.ChainPolicyDrop && c.Priority != nil {
		p = int32(*c.Priority)
	}
	return &p
}

func (t *Table) kernelSets(raw *netlink.Conn, v view) error {
	sets, err := t.conn.GetSets(t.tbl)
	if err != nil {
		return fmt.Errorf("list sets: %w", err)
	}
	for _, s := range sets {
		ids, err := kernelElems(raw, s.Name)
		if err != nil {
			return err
		}
		typ := s.KeyType.Name
		if s.IsMap {
			typ += " : " + s.DataType.Name
		}
		v["set "+s.Name] = describeSet(typ, s.Interval, s.HasTimeout, int(s.KeyType.Bytes), ids)
	}
	return nil
}

// compareViews lists what differs between want and got.
func compareViews(want, got view) []string {
	var out []string
	for k, w := range want {
		g, ok := got[k]
		switch {
		case !ok:
			out = append(out, k+": missing")
		case g != w:
			out = append(out, fmt.Sprintf("%s: differs:\n%s", k, lineDiff(w, g)))
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			out = append(out, k+": not ours")
		}
	}
	slices.Sort(out)
	return out
}

// lineDiff lists the lines only in want (-) and only in got (+).
func lineDiff(want, got string) string {
	var b strings.Builder
	for _, l := range minus(strings.Split(want, "\n"), strings.Split(got, "\n")) {
		b.WriteString("- " + l + "\n")
	}
	for _, l := range minus(strings.Split(got, "\n"), strings.Split(want, "\n")) {
		b.WriteString("+ " + l + "\n")
	}
	return b.String()
}

// minus returns the lines of a that b does not have (as a multiset).
func minus(a, b []string) []string {
	count := map[string]int{}
	for _, l := range b {
		count[l]++
	}
	var out []string
	for _, l := range a {
		if count[l] > 0 {
			count[l]--
			continue
		}
		out = append(out, l)
	}
	return out
}

// verify counts back the elements of the named sets after a batch.
func (t *Table) verify(rs *ruleset, names []string) error {
	if len(names) == 0 {
		return nil
	}
	raw, err := t.rawConn()
	if err != nil {
		return err
	}
	defer raw.Close()
	sets := byName(rs.sets, func(s *set) string { return s.name })
	now := time.Now()
	for _, n := range names {
		ids, err := kernelElems(raw, n)
		if err != nil {
			return err
		}
		want := len(sets[n].elems)
		if sets[n].timeout {
			want = 0
			for _, e := range sets[n].elems {
				if e.checked(now) {
					want++
				}
			}
		}
		if len(ids) != want {
			return fmt.Errorf("set %s holds %d elements in the kernel, want %d", n, len(ids), want)
		}
	}
	return nil
}
