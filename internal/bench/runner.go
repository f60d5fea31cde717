package bench

import (
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/policy"
)

// flight is one probe on its way, with what policy says about it.
type flight struct {
	probe
	from, to *end
	want     bool // explain: the packet reaches the receiver
	// explained is explain's answer for the flow (policy.Compiled.Explain,
	// what `palisade explain` reports): the oracle the kernel is held to.
	explained policy.Explanation
	seen      bool // it arrived at the receiver (guarded by runner.mu)
}

func (f *flight) String() string {
	var what string
	switch {
	case f.proto.HasPorts():
		what = fmt.Sprintf("%s/%d (source port %d)", f.proto, f.dport, f.sport)
	case f.proto.IsICMP():
		what = fmt.Sprintf("%s type %d code %d", f.proto, f.typ, f.code)
	default:
		what = fmt.Sprintf("protocol %d", f.proto)
	}
	spoof := ""
	if f.src != f.from.v4 && f.src != f.from.v6 {
		spoof = " (spoofed)"
	}
	return fmt.Sprintf("%s from %s %s%s to %s %s", what, f.from.name, f.src, spoof, f.to.name, f.dst)
}

// kind names the flow's protocol and family: "tcp4", "icmpv6", "other6".
func (f *flight) kind() string {
	fam := "4"
	if f.src.Is6() {
		fam = "6"
	}
	switch {
	case f.proto.HasPorts():
		return f.proto.String() + fam
	case f.proto == model.ProtoICMP, f.proto == model.ProtoICMPv6:
		if isICMPError(f.src.Is6(), f.typ) {
			return f.proto.String() + " error"
		}
		return f.proto.String() + " query"
	}
	return "other" + fam
}

// runner sends batches of probes through the world and judges them.
type runner struct {
	w     *diffLab
	cfg   DifferentialConfig
	rng   *mrand.Rand
	nonce uint32 // marks this run's packets
	tag   uint32 // last tag handed out

	mu       sync.Mutex
	inflight map[uint32]*flight // by tag
	stray    int
	readers  sync.WaitGroup

	snap     policy.Snapshot // the round's policy
	compiled *policy.Compiled
}

func newRunner(w *diffLab, cfg DifferentialConfig, rng *mrand.Rand) *runner {
	r := &runner{w: w, cfg: cfg, rng: rng, nonce: mrand.Uint32() | 1, inflight: map[uint32]*flight{}}
	for _, e := range w.ends {
		r.readers.Add(1)
		go r.read(e)
	}
	return r
}

// read records every probe that arrives at e, until e's tap is closed.
func (r *runner) read(e *end) {
	defer r.readers.Done()
	buf := make([]byte, 2048)
	for {
		n, err := e.tap.recv.Read(buf)
		if err != nil {
			return
		}
		if s, ok := parseSighting(buf[:n], r.nonce); ok {
			r.observe(e, &s)
		}
	}
}

func (r *runner) observe(at *end, s *sighting) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.inflight[s.tag]
	if f == nil || !s.matches(&f.probe) {
		return // a reply, or a probe judged already
	}
	if f.to == at {
		f.seen = true
	} else {
		r.stray++
	}
}

func (r *runner) strays() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stray
}

// stop closes the taps and waits for the readers.
func (r *runner) stop() {
	r.w.Close()
	r.readers.Wait()
}

// round draws and applies a new policy, then sends n flows in batches.
func (r *runner) round(ctx context.Context, n int, res *DifferentialResult) error {
	if err := r.use(r.w.gen.snapshot(r.w.vpc, r.w.enis)); err != nil {
		return err
	}
	for done := 0; done < n; {
		if err := ctx.Err(); err != nil {
			return err
		}
		k := min(r.cfg.Batch, n-done)
		if err := r.batch(k, res); err != nil {
			return err
		}
		done += k
	}
	if drift, err := r.w.table.Check(); err != nil || drift {
		return errors.Join(err, errors.New("the kernel's table differs from what was applied"))
	}
	return nil
}

// use applies snapshot s to the table and decides the next flows by it.
func (r *runner) use(s policy.Snapshot) error {
	c, _, err := r.w.apply(s)
	if err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	r.snap, r.compiled = s, c
	return r.warmUp()
}

// warmUp makes the router resolve every endpoint's link-layer address (an
// unresolved neighbour queues only a few packets and would drop the rest
// of a burst): the router pings them all.
func (r *runner) warmUp() error {
	var targets []netip.Addr
	for _, e := range r.w.ends {
		targets = append(targets, e.v4)
		if e.v6.IsValid() {
			targets = append(targets, e.v6)
		}
	}
	return pingAll(r.w.router, targets, 2*time.Second)
}

// batch sends k random flows at once, judges them, and sends every flow
// judged wrong again (a small batch, with a longer grace) to tell a real
// mismatch from a lost or late packet.
func (r *runner) batch(k int, res *DifferentialResult) error {
	fs := r.draw(k)
	if err := r.fly(fs, r.cfg.Grace); err != nil {
		return err
	}
	var again []*flight
	for _, f := range fs {
		res.count(f)
		if f.seen != f.want {
			again = append(again, r.redraw(f))
		}
	}
	if len(again) == 0 {
		return nil
	}
	if err := r.fly(again, max(time.Second, r.cfg.Grace)); err != nil {
		return err
	}
	for _, f := range again {
		switch {
		case f.seen == f.want:
			res.Transient++
		case len(res.Mismatches) < maxMismatches:
			res.Mismatches = append(res.Mismatches, r.mismatch(f))
			res.MismatchCount++
		default:
			res.MismatchCount++
		}
	}
	return nil
}

// maxMismatches bounds the mismatches a result describes (all are counted).
const maxMismatches = 20

// fly sends the flights, each from its sender's tap, the senders in
// parallel, then waits grace and collects which arrived. The router's
// conntrack is flushed first, so that every probe is a new flow.
func (r *runner) fly(fs []*flight, grace time.Duration) error {
	if err := r.w.flushConntrack(); err != nil {
		return err
	}
	bySender := map[*end][]*flight{}
	r.mu.Lock()
	for _, f := range fs {
		r.inflight[f.tag] = f
		bySender[f.from] = append(bySender[f.from], f)
	}
	r.mu.Unlock()
	var g errgroup.Group
	for e, list := range bySender {
		g.Go(func() error {
			for _, f := range list {
				if err := e.tap.transmit(f.packet(r.nonce)); err != nil {
					return fmt.Errorf("send from %s: %w", e.name, err)
				}
			}
			return nil
		})
	}
	err := g.Wait()
	time.Sleep(grace)
	r.mu.Lock()
	for _, f := range fs {
		delete(r.inflight, f.tag)
	}
	r.mu.Unlock()
	return err
}

// conn identifies what conntrack keys a flow by (ports are zero for
// protocols without them).
type conn struct {
	src, dst     netip.Addr
	proto        model.Proto
	sport, dport uint16
}

// batchState keeps the flows of one batch distinct for conntrack: unique
// source ports and ICMP identifiers, and never a flow that is the reverse
// of another (its packet would be the other's reply, "established").
type batchState struct {
	port, id uint16
	conns    map[conn]bool
}

// draw draws k random flights, decided by the round's policy.
func (r *runner) draw(k int) []*flight {
	b := &batchState{port: 20000, id: 1, conns: map[conn]bool{}}
	fs := make([]*flight, 0, k)
	for len(fs) < k {
		if f := r.randomFlight(b); f != nil {
			fs = append(fs, f)
		}
	}
	return fs
}

// redraw is f again as a new flow: a new tag, source port and identifier.
func (r *runner) redraw(f *flight) *flight {
	g := *f
	g.seen = false
	r.tag++
	g.tag = r.tag
	g.sport, g.id = 10000+uint16(r.rng.IntN(10000)), uint16(r.rng.IntN(65535))+1
	return &g
}

// randomFlight draws one flow, or nil when the draw would reuse (or
// reverse) a flow of the batch.
func (r *runner) randomFlight(b *batchState) *flight {
	v6 := r.rng.IntN(100) < 35
	from := r.pickEnd(v6, nil)
	to := r.pickEnd(v6, from)
	if from == nil || to == nil {
		return nil
	}
	p := probe{header: header{src: from.addr(v6), dst: to.addr(v6)}}
	if from.eni != "" && r.rng.IntN(100) < 3 {
		if other := r.pickEnd(v6, from); other != nil {
			p.src = other.addr(v6) // spoofed: an address that is not the sender's
		}
	}
	r.drawProtocol(&p, v6, b)
	if !b.claim(&p) {
		return nil
	}
	r.tag++
	p.tag = r.tag
	f := &flight{probe: p, from: from, to: to}
	f.explained = r.compiled.Explain(from.endpoint(p.src), to.endpoint(p.dst), p.proto, p.port())
	f.want = f.explained.Allowed
	return f
}

// pickEnd draws an endpoint with an address of the family, other than
// not: an instance interface three times out of four.
func (r *runner) pickEnd(v6 bool, not *end) *end {
	wantHost := r.rng.IntN(4) == 0
	var cands []*end
	for _, e := range r.w.ends {
		if e != not && e.addr(v6).IsValid() && (e.eni == "") == wantHost {
			cands = append(cands, e)
		}
	}
	if len(cands) == 0 {
		return nil
	}
	return pick(r.rng, cands)
}

func (r *runner) drawProtocol(p *probe, v6 bool, b *batchState) {
	switch x := r.rng.IntN(100); {
	case x < 35:
		p.proto = model.ProtoTCP
	case x < 58:
		p.proto = model.ProtoUDP
	case x < 85:
		p.proto = model.ProtoICMP
		if v6 {
			p.proto = model.ProtoICMPv6
		}
	default:
		p.proto = pick(r.rng, otherProtos)
	}
	switch {
	case p.proto.HasPorts():
		p.sport, b.port = b.port, b.port+1
		p.dport = pick(r.rng, flowPorts)
		if r.rng.IntN(10) == 0 {
			p.dport = uint16(1 + r.rng.IntN(65535))
		}
	case p.proto.IsICMP():
		types := []uint8{0, 3, 5, 8, 8, 11, 13, 42}
		if v6 {
			types = []uint8{1, 2, 3, 4, 128, 128, 129, 139, 200}
		}
		p.typ, p.code = pick(r.rng, types), pick(r.rng, []uint8{0, 0, 1, 3, 4})
		p.id, b.id = b.id, b.id+1
	}
}

// claim records p's flow, unless its reverse is a flow of the batch.
func (b *batchState) claim(p *probe) bool {
	if p.proto.IsICMP() {
		return true // queries have unique identifiers; errors are not tracked
	}
	fwd := conn{p.src, p.dst, p.proto, p.sport, p.dport}
	if b.conns[conn{p.dst, p.src, p.proto, p.dport, p.sport}] {
		return false
	}
	b.conns[fwd] = true
	return true
}

// mismatch describes a confirmed mismatch: the flow, policy's verdict, and
// the rules of both interfaces.
func (r *runner) mismatch(f *flight) Mismatch {
	var sb strings.Builder
	for _, e := range []*end{f.from, f.to} {
		if e.eni != "" {
			r.describeENI(&sb, e)
		}
	}
	return Mismatch{Flow: f.String(), Reached: f.seen, Policy: f.explained.Reason, Rules: sb.String()}
}

func (r *runner) describeENI(sb *strings.Builder, e *end) {
	var eni model.ENI
	for _, x := range r.snap.ENIs {
		if x.ID == e.eni {
			eni = x
		}
	}
	fmt.Fprintf(sb, "  %s (%s, %v) groups %v\n", e.eni, e.name, eni.Addrs(), eni.Groups)
	refs := map[model.GroupID]bool{}
	for _, g := range r.snap.Groups {
		if !slices.Contains(eni.Groups, g.ID) {
			continue
		}
		for _, rule := range g.Rules {
			fmt.Fprintf(sb, "    %s %s %s: %s\n", g.ID, rule.ID, rule.Direction, rule.Describe())
			if rule.Peer.Kind == model.PeerGroup {
				refs[rule.Peer.Group] = true
			}
		}
	}
	for g := range refs {
		fmt.Fprintf(sb, "    members of %s: %v\n", g, r.compiled.Members(g))
	}
	for _, pl := range r.snap.PrefixLists {
		fmt.Fprintf(sb, "    prefix list %s: %v\n", pl.ID, pl.Entries)
	}
}
