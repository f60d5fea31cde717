package agent

import (
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"palisade.dev/palisade/internal/dataplane"
	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/policy"
	"palisade.dev/palisade/internal/store"
)

// ObserveConfig tunes flow logs and hit counters (see docs/dataplane.md,
// "Observation"). A VPC is observed (its table has the observation rules)
// while a flow log covers one of its interfaces or hit counters are on.
type ObserveConfig struct {
	// DataDir receives the flow log files (under FlowLogDir); "" writes
	// none.
	DataDir string
	// Hits turns the hit counters on: every VPC is observed.
	Hits bool
	// Window is the aggregation window of the flow log records; a flow
	// log's MaxAggregationInterval is a maximum, so any shorter window
	// honours it. Tick is how often conntrack's counters are read and the
	// hit counters published.
	Window, Tick time.Duration
	// MaxFlows bounds the flows of one VPC in one window; beyond it a
	// flow's records are skipped (counted, and reported as SKIPDATA).
	MaxFlows int
	// MaxDiskBytes bounds the flow log files together: the oldest go.
	MaxDiskBytes int64
	// Ring receives the records live (palisade flows); nil keeps none.
	Ring *FlowRing
	// Chown, when set, gives each flow log file and directory made to
	// the data directory's owner (serve under sudo).
	Chown func(path string) error
}

// DefaultObserveConfig returns the defaults: hit counters off, windows of
// 60 s, counters read every 5 s, 10,000 flows per VPC and window, 256 MiB
// of files.
func DefaultObserveConfig() ObserveConfig {
	return ObserveConfig{Window: time.Minute, Tick: 5 * time.Second, MaxFlows: 10000, MaxDiskBytes: 256 << 20}
}

// observation is the agent's side of flow logs and hit counters: one
// vpcObserver per observed VPC, the hit counters of all of them.
type observation struct {
	cfg  ObserveConfig
	log  *slog.Logger
	vpcs map[model.VpcID]*vpcObserver // touched by the reconcile loop only
	hits *hitCounters
}

func newObservation(cfg ObserveConfig, log *slog.Logger, hits *hitCounters) *observation {
	d := DefaultObserveConfig()
	if cfg.Window <= 0 {
		cfg.Window = d.Window
	}
	if cfg.Tick <= 0 {
		cfg.Tick = d.Tick
	}
	cfg.Tick = min(cfg.Tick, cfg.Window)
	if cfg.MaxFlows <= 0 {
		cfg.MaxFlows = d.MaxFlows
	}
	if cfg.MaxDiskBytes <= 0 {
		cfg.MaxDiskBytes = d.MaxDiskBytes
	}
	return &observation{cfg: cfg, log: log, vpcs: map[model.VpcID]*vpcObserver{}, hits: hits}
}

// obsView is what a vpcObserver attributes and records with: the VPC's
// compiled policy and its interfaces, as of the last reconcile.
type obsView struct {
	vpc      model.VpcID
	compiled *policy.Compiled
	enis     map[model.ENIID]*eniObs
	scope    model.Scope // the VPC's, which its groups share
}

// eniObs is one interface with the flow logs that cover it.
type eniObs struct {
	eni      model.ENI
	instance model.InstanceID
	logs     []*model.FlowLog
}

// wants reports whether the VPC must be observed.
func (o *observation) wants(v *obsView) bool {
	if o.cfg.Hits {
		return true
	}
	for _, e := range v.enis {
		if len(e.logs) > 0 {
			return true
		}
	}
	return false
}

// track starts, updates or stops the VPC's observer after its table was
// applied (with Observe as wants said).
func (o *observation) track(v *obsView, fw Firewall) {
	vo := o.vpcs[v.vpc]
	t, ok := fw.(observable)
	if !o.wants(v) || !ok { // a firewall that keeps nothing has nothing to observe
		o.stop(v.vpc)
		return
	}
	if vo != nil {
		vo.view.Store(v)
		return
	}
	vo, err := o.start(v, t)
	if err != nil {
		o.log.Error("observe vpc: no flow logs or hit counters for it", "vpc", v.vpc, "err", err)
		return
	}
	o.vpcs[v.vpc] = vo
}

// stop ends the VPC's observer, writing its last window.
func (o *observation) stop(id model.VpcID) {
	if vo := o.vpcs[id]; vo != nil {
		vo.close()
		delete(o.vpcs, id)
	}
}

// closeAll ends every observer.
func (o *observation) closeAll() {
	for id := range o.vpcs {
		o.stop(id)
	}
}

// vpcObserver reads one VPC router's observation copies and aggregates
// them into flows: records (ring, files) and hit counters.
type vpcObserver struct {
	o    *observation
	vpc  model.VpcID
	tbl  observable
	src  *dataplane.Observer
	view atomic.Pointer[obsView]
	done chan struct{}
	wg   sync.WaitGroup

	mu          sync.Mutex
	flows       map[dataplane.FlowKey]*flow
	windowStart time.Time
	skipped     map[model.ENIID]int // flows over MaxFlows in this window
	seq         uint64
	dec         dataplane.Decider // first packets waiting for their verdict
}

// flow is one flow (5-tuple) of the window.
type flow struct {
	key      dataplane.FlowKey
	id       string // the ring's Flow
	accepted bool
	side     string // reject-side
	src, dst model.ENIID
	rules    []policy.RuleRef
	start    time.Time
	// Packets and bytes: of the copies for a rejected flow; conntrack's
	// totals at the last read for an accepted one (orig, reply), with
	// what the last window record and the hit counters took.
	n, reply, recorded, recordedReply, hit counts
	ended                                  bool // gone from conntrack
	fresh                                  bool // began in this window
}

type counts struct{ packets, bytes uint64 }

func (c counts) minus(o counts) counts {
	if c.packets < o.packets || c.bytes < o.bytes {
		return c // a new conntrack entry under the same tuple
	}
	return counts{c.packets - o.packets, c.bytes - o.bytes}
}

// observable is a firewall whose traffic can be observed; *dataplane.Table
// is one.
type observable interface {
	Observer() (*dataplane.Observer, error)
	FlowCounters() (map[dataplane.FlowKey]dataplane.FlowCount, error)
}

// start observes a VPC: its view is in place before the first copy.
func (o *observation) start(v *obsView, t observable) (*vpcObserver, error) {
	src, err := t.Observer()
	if err != nil {
		return nil, err
	}
	id := v.vpc
	vo := &vpcObserver{o: o, vpc: id, tbl: t, src: src, done: make(chan struct{}),
		flows: map[dataplane.FlowKey]*flow{}, windowStart: time.Now(), skipped: map[model.ENIID]int{}}
	vo.view.Store(v)
	vo.wg.Go(vo.read)
	vo.wg.Go(vo.tick)
	o.log.Info("observing vpc: flow logs and hit counters", "vpc", id)
	return vo, nil
}

func (vo *vpcObserver) close() {
	close(vo.done)
	vo.src.Close() // ends read
	vo.wg.Wait()
	vo.endWindow(time.Now(), true)
}

// read takes the copies until the observer closes.
func (vo *vpcObserver) read() {
	var warned time.Time
	lost := 0
	for {
		ps, err := vo.src.Read()
		select {
		case <-vo.done:
			return
		default:
		}
		if errors.Is(err, dataplane.ErrLost) {
			lost++
			if time.Since(warned) > time.Minute { // at most one line a minute
				vo.o.log.Warn("flow observation fell behind: copies lost", "vpc", vo.vpc, "times", lost)
				warned, lost = time.Now(), 0
			}
			continue
		}
		if err != nil {
			vo.o.log.Error("flow observation stopped", "vpc", vo.vpc, "err", err)
			return
		}
		v, now := vo.view.Load(), time.Now()
		vo.mu.Lock()
		for i := range ps {
			for _, p := range vo.dec.Add(ps[i], now) {
				vo.observe(v, &p)
			}
		}
		vo.decide(v, now)
		vo.mu.Unlock()
	}
}

// decide observes the copies of first packets that the receiver's side
// did not drop (dataplane.Decider). The caller holds mu.
func (vo *vpcObserver) decide(v *obsView, now time.Time) {
	for _, p := range vo.dec.Flush(now) {
		vo.observe(v, &p)
	}
}

// observe adds one copy: a new flow is attributed at once (policy's
// Explain names the rules) and shown in the ring.
func (vo *vpcObserver) observe(v *obsView, p *dataplane.Observed) {
	key := p.Key()
	accepted := p.Verdict == dataplane.Accepted
	f := vo.flows[key]
	if f != nil && f.accepted == accepted {
		if !accepted {
			f.n.packets++
			f.n.bytes += uint64(p.Len)
		}
		return
	}
	srcENI, _ := v.compiled.ENIByAddr(v.vpc, key.Src)
	dstENI, _ := v.compiled.ENIByAddr(v.vpc, key.Dst)
	if len(vo.flows) >= vo.o.cfg.MaxFlows {
		for _, e := range []model.ENIID{srcENI, dstENI} {
			if e != "" {
				vo.skipped[e]++
			}
		}
		return
	}
	vo.seq++
	f = &flow{key: key, id: flowID(vo.vpc, vo.seq), accepted: accepted, src: srcENI, dst: dstENI, start: p.Time,
		n: counts{1, uint64(p.Len)}, fresh: true}
	switch p.Verdict {
	case dataplane.DroppedEgress:
		f.side = model.Egress.String()
	case dataplane.DroppedIngress:
		f.side = model.Ingress.String()
	default:
		port := key.DstPort
		if key.Proto.IsICMP() {
			port = model.ICMPKey(p.Type, p.Code)
		}
		e := v.compiled.Explain(policy.Endpoint{ENI: srcENI, Addr: key.Src}, policy.Endpoint{ENI: dstENI, Addr: key.Dst}, key.Proto, port)
		f.rules = append(slices.Clone(e.Egress.Rules), e.Ingress.Rules...)
		vo.o.hits.firstPacket(v, f.rules, p.Time)
	}
	vo.flows[key] = f
	for _, r := range vo.records(v, f, f.n, counts{}, p.Time, p.Time) {
		vo.o.cfg.Ring.addIf(r)
	}
}

func flowID(vpc model.VpcID, seq uint64) string {
	return string(vpc) + "/" + uitoa(seq)
}

func uitoa(v uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		if v /= 10; v == 0 {
			return string(b[i:])
		}
	}
}

// decideEvery is how often first packets are decided while no copy
// comes: an accepted flow is recorded within a few of these.
const decideEvery = 100 * time.Millisecond

// tick decides first packets, reads conntrack's counters, publishes hit
// counters and ends windows, until the observer closes.
func (vo *vpcObserver) tick() {
	t := time.NewTicker(vo.o.cfg.Tick)
	defer t.Stop()
	d := time.NewTicker(decideEvery)
	defer d.Stop()
	for {
		select {
		case <-vo.done:
			return
		case now := <-d.C:
			v := vo.view.Load()
			vo.mu.Lock()
			vo.decide(v, now)
			vo.mu.Unlock()
		case now := <-t.C:
			vo.readCounters()
			vo.o.hits.publish(now)
			if now.Sub(vo.windowStartLocked()) >= vo.o.cfg.Window {
				vo.endWindow(now, false)
			}
		}
	}
}

func (vo *vpcObserver) windowStartLocked() time.Time {
	vo.mu.Lock()
	defer vo.mu.Unlock()
	return vo.windowStart
}

// readCounters takes conntrack's counts of the accepted flows, adds what
// is new to their rules' hit counters, and marks the flows conntrack no
// longer has as ended.
func (vo *vpcObserver) readCounters() {
	vo.mu.Lock()
	live := false
	for _, f := range vo.flows {
		live = live || f.accepted && !f.ended
	}
	vo.mu.Unlock()
	if !live {
		return
	}
	cs, err := vo.tbl.FlowCounters()
	if err != nil {
		vo.o.log.Error("read conntrack counters", "vpc", vo.vpc, "err", err)
		return
	}
	v := vo.view.Load()
	vo.mu.Lock()
	defer vo.mu.Unlock()
	for k, f := range vo.flows {
		if !f.accepted || f.ended {
			continue
		}
		c, ok := cs[k]
		if !ok {
			f.ended = true
			continue
		}
		f.n, f.reply = counts{c.OrigPackets, c.OrigBytes}, counts{c.ReplyPackets, c.ReplyBytes}
		total := counts{f.n.packets + f.reply.packets, f.n.bytes + f.reply.bytes}
		vo.o.hits.traffic(v, f.rules, total.minus(f.hit))
		f.hit = total
	}
}

// endWindow writes the window's records (ring and files) and starts the
// next window: the flows that ended or were rejected are forgotten.
func (vo *vpcObserver) endWindow(now time.Time, last bool) {
	v := vo.view.Load()
	vo.mu.Lock()
	var recs []model.FlowRecord
	for k, f := range vo.flows {
		n, reply := f.n, f.reply
		if f.accepted {
			n, reply = f.n.minus(f.recorded), f.reply.minus(f.recordedReply)
			f.recorded, f.recordedReply = f.n, f.reply
		}
		if f.fresh || n.packets > 0 || reply.packets > 0 {
			start := f.start
			if !f.fresh {
				start = vo.windowStart
			}
			recs = append(recs, vo.records(v, f, n, reply, start, now)...)
		}
		f.fresh = false
		if !f.accepted || f.ended || last {
			delete(vo.flows, k)
		}
	}
	for e, n := range vo.skipped {
		if info := v.enis[e]; info != nil && n > 0 {
			recs = append(recs, model.FlowRecord{Version: 2, Account: info.eni.Account, Region: info.eni.Region, ENI: e,
				Start: vo.windowStart, End: now, LogStatus: "SKIPDATA"})
		}
	}
	clear(vo.skipped)
	vo.windowStart = now
	vo.mu.Unlock()
	for _, r := range recs {
		vo.o.cfg.Ring.addIf(r)
	}
	vo.o.writeFiles(v, recs, now)
}

// records are a flow's records over n (first-packet direction) and reply
// packets: on each of its interfaces that is a Palisade one, one per
// direction that carried packets (AWS records each direction apart).
func (vo *vpcObserver) records(v *obsView, f *flow, n, reply counts, start, end time.Time) []model.FlowRecord {
	var out []model.FlowRecord
	action := "ACCEPT"
	var rules []model.RuleID
	if !f.accepted {
		action = "REJECT"
	}
	for _, r := range f.rules {
		rules = append(rules, r.Rule)
	}
	for _, side := range []struct {
		eni model.ENIID
		dir model.Direction
	}{{f.src, model.Egress}, {f.dst, model.Ingress}} {
		info := v.enis[side.eni]
		if info == nil || (!f.accepted && f.side == model.Egress.String() && side.dir == model.Ingress) {
			continue // an outside end; or the receiver of what the sender's side dropped, which it never saw
		}
		base := model.FlowRecord{Version: 2, Account: info.eni.Account, Region: info.eni.Region, Zone: info.eni.Zone,
			ENI: side.eni, VPC: v.vpc, Subnet: info.eni.Subnet, Instance: info.instance, Proto: f.key.Proto,
			Start: start, End: end, Action: action, LogStatus: "OK", Rules: rules, RejectSide: f.side, Flow: f.id}
		fwd := base
		fwd.Src, fwd.Dst, fwd.SrcPort, fwd.DstPort = f.key.Src, f.key.Dst, f.key.SrcPort, f.key.DstPort
		fwd.Packets, fwd.Bytes, fwd.Direction = n.packets, n.bytes, side.dir
		out = append(out, fwd)
		if reply.packets > 0 {
			back := base
			back.Src, back.Dst, back.SrcPort, back.DstPort = f.key.Dst, f.key.Src, f.key.DstPort, f.key.SrcPort
			back.Packets, back.Bytes, back.Direction = reply.packets, reply.bytes, opposite(side.dir)
			back.Flow = f.id + "r"
			out = append(out, back)
		}
	}
	return out
}

func opposite(d model.Direction) model.Direction {
	if d == model.Egress {
		return model.Ingress
	}
	return model.Egress
}

// addIf adds a record to the ring, if there is one.
func (r *FlowRing) addIf(rec model.FlowRecord) {
	if r != nil {
		r.add(rec)
	}
}

// writeFiles writes each flow log's records of the window into its file.
func (o *observation) writeFiles(v *obsView, recs []model.FlowRecord, end time.Time) {
	if o.cfg.DataDir == "" || v == nil || len(recs) == 0 {
		return
	}
	byLog := map[*model.FlowLog][]model.FlowRecord{}
	for _, r := range recs {
		info := v.enis[r.ENI]
		if info == nil {
			continue
		}
		for _, fl := range info.logs {
			if r.LogStatus != "OK" || fl.Keeps(r.Action) {
				byLog[fl] = append(byLog[fl], r)
			}
		}
	}
	wrote := false
	for fl, rs := range byLog {
		fields, version, err := model.ParseLogFormat(fl.Format)
		if err != nil {
			o.log.Error("flow log format", "flow_log", fl.ID, "err", err)
			continue
		}
		slices.SortFunc(rs, func(a, b model.FlowRecord) int { return a.Start.Compare(b.Start) })
		for i := range rs {
			rs[i].Version = version
		}
		path := flowLogPath(o.cfg.DataDir, fl, end, uint64(len(rs)))
		if _, err := writeFlowLog(o.cfg.DataDir, path, fields, rs, o.cfg.Chown); err != nil {
			o.log.Error("write flow log file", "flow_log", fl.ID, "path", path, "err", err)
			continue
		}
		wrote = true
	}
	if wrote {
		if err := pruneFlowLogs(o.cfg.DataDir, o.cfg.MaxDiskBytes); err != nil {
			o.log.Error("prune flow log files", "err", err)
		}
	}
}

// newAgentObservation makes the agent's observation from its config: hit
// counters (published under the host's prefix) only when they are on.
func newAgentObservation(st store.Store, cfg Config, log *slog.Logger) *observation {
	var hits *hitCounters
	if cfg.Observe.Hits {
		hits = newHitCounters(st, cfg.Host, hitsPublishEvery, log.With("component", "hits"))
	}
	return newObservation(cfg.Observe, log.With("component", "flows"), hits)
}

// hitsPublishEvery bounds the writes of hit counters: at most one per
// group in this period.
const hitsPublishEvery = 5 * time.Second

// applyFlowLog records a flow log (nil value: deleted) and marks its VPC
// dirty: the VPC's observation may start or stop.
func (w *mirror) applyFlowLog(id model.FlowLogID, value []byte) error {
	if w.flowLogs == nil {
		w.flowLogs = map[model.FlowLogID]*model.FlowLog{}
	}
	old, cur, err := put(w.flowLogs, id, value)
	touch(w, old, cur, func(f *model.FlowLog) model.VpcID { return f.VPC })
	return err
}

// obsView is what the VPC's observer needs from the mirror: its
// interfaces with the flow logs that cover them. Without hit counters and
// flow logs in the VPC it is empty, at the cost of a look at the flow logs.
func (w *mirror) obsView(id model.VpcID, c *policy.Compiled, all bool) *obsView {
	v := &obsView{vpc: id, compiled: c, enis: map[model.ENIID]*eniObs{}}
	if vpc := w.vpcs[id]; vpc != nil {
		v.scope = vpc.Scope
	}
	var logs []*model.FlowLog
	for _, f := range w.flowLogs {
		if f.VPC == id {
			logs = append(logs, f)
		}
	}
	if len(logs) == 0 && !all {
		return v
	}
	slices.SortFunc(logs, func(a, b *model.FlowLog) int { return cmpStr(string(a.ID), string(b.ID)) })
	for _, p := range c.Policies() {
		e := w.enis[p.ENI]
		if e == nil {
			continue
		}
		o := &eniObs{eni: *e}
		if e.Attachment != nil {
			o.instance = e.Attachment.Instance
		}
		for _, f := range logs {
			if f.Covers(e) {
				o.logs = append(o.logs, f)
			}
		}
		v.enis[e.ID] = o
	}
	return v
}
