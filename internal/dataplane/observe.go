package dataplane

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	vnl "github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"palisade.dev/palisade/internal/model"
)

// Observation (flow logs and hit counters) is opt-in per table
// (Desired.Observe). It adds, and only then, copies of first packets to
// the receiver's side and of drops:
//
//	fwd_ingress  log prefix "N" group 1 snaplen 128     (first rule)
//	             oif vmap @in_ports
//	             log prefix "I" group 1 snaplen 128     (before the final drop)
//	<eni>_out    … log prefix "E" group 1 snaplen 128   (before the final drop)
//	<eni>_in     … log prefix "I" group 1 snaplen 128   (before the final drop)
//
// Only the first packet of a flow (and nothing of an established one)
// reaches these chains, so observation costs nothing per packet of an
// established flow, and a VPC that is not observed has exactly the table
// it would have without it. A first packet that the sender's side let go
// is copied as "N" on entering the receiver's side; should the receiver's
// side drop it, an "I" copy of the same packet follows at once; "E" is a
// drop by the sender's side. Decider pairs them: an "N" that no "I"
// follows was accepted. The copies go to NFLOG group LogGroup of the
// router namespace (nfnetlink_log instances are per namespace), which
// Observer reads; with no reader bound the kernel drops them. Which rules
// allowed an accepted flow is not marked in the kernel: the agent asks
// policy (Compiled.Explain), which the table is rendered from.

// LogGroup is the NFLOG group of the observation rules.
const LogGroup = 1

// logSnap is how much of a packet is copied: the IP and transport headers.
const logSnap = 128

// Prefixes of the observation rules: what happened to the packet.
const (
	prefixPassed  = "N"
	prefixEgress  = "E"
	prefixIngress = "I"
)

// log copies the packet to the observer with prefix.
func (b *ruleBuilder) log(prefix string) *ruleBuilder {
	return b.add(fmt.Sprintf(`log prefix "%s" group %d snaplen %d`, prefix, LogGroup, logSnap),
		&expr.Log{Key: 1<<unix.NFTA_LOG_GROUP | 1<<unix.NFTA_LOG_PREFIX | 1<<unix.NFTA_LOG_SNAPLEN,
			Group: LogGroup, Snaplen: logSnap, Data: []byte(prefix)})
}

// logDrop is the rule before a port chain's final drop.
func logDrop(d model.Direction) rule {
	p := prefixIngress
	if d == model.Egress {
		p = prefixEgress
	}
	return new(ruleBuilder).log(p).done()
}

// logNew copies a first packet on its way to the receiver's side.
func logNew() rule { return new(ruleBuilder).log(prefixPassed).done() }

// Verdict of an observed packet.
type Verdict uint8

// Verdicts of Observed.
const (
	Accepted       Verdict = iota + 1 // the first packet of a flow both sides allowed (decided by Decider)
	DroppedEgress                     // dropped by the sender's port chain
	DroppedIngress                    // dropped by the receiver's port chain (or no receiver)
	Passed                            // the sender's side let it go: Accepted unless DroppedIngress follows
)

// Observed is one packet the observation rules copied.
type Observed struct {
	Verdict  Verdict
	Time     time.Time
	Src, Dst netip.Addr
	Proto    model.Proto
	// SrcPort and DstPort of TCP, UDP and SCTP; Type and Code of ICMP.
	SrcPort, DstPort uint16
	Type, Code       uint8
	Len              int // the IP packet's length
}

// Observer reads the observation rules' copies in a table's namespace.
type Observer struct {
	conn *netlink.Conn
}

// Observer binds NFLOG group LogGroup in the table's namespace (one
// observer per namespace) and turns on conntrack accounting there
// (net.netfilter.nf_conntrack_acct, for the packets and bytes of
// accepted flows: FlowCounters).
func (t *Table) Observer() (*Observer, error) {
	if err := setSysctls(t.ns, []sysctl{{"net/netfilter/nf_conntrack_acct", 1}}); err != nil {
		return nil, err
	}
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: int(t.ns.Fd())})
	if err != nil {
		return nil, fmt.Errorf("nflog socket: %w", err)
	}
	o := &Observer{conn: c}
	if err := o.setup(); err != nil {
		c.Close()
		return nil, err
	}
	return o, nil
}

// nfnetlink_log (linux/netfilter/nfnetlink_log.h).
const (
	subsysULOG       = 4
	msgPacket        = 0
	msgConfig        = 1
	cfgCmd           = 1
	cfgMode          = 2
	cfgTimeout       = 4 // flush a batch after this long, in 1/100 s
	cfgQThresh       = 5 // copies per batch
	cmdBind          = 1
	cmdPFUnbind      = 4
	copyPacket       = 2
	attrPrefix       = 10
	attrPayload      = 9
	attrTimestamp    = 7
	observerRcvBytes = 4 << 20
)

func (o *Observer) setup() error {
	rc, err := o.conn.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, observerRcvBytes)
	}); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("nflog buffer: %w", serr)
	}
	mode := make([]byte, 6)
	binary.BigEndian.PutUint32(mode, logSnap)
	mode[4] = copyPacket
	be32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	// Batches of up to batchCopies copies, flushed after batchWait at
	// the latest: one wakeup of the reader per batch instead of per new
	// flow (the kernel's default is one copy per message).
	for _, attrs := range [][]netlink.Attribute{
		{{Type: cfgCmd, Data: []byte{cmdBind}}},
		{{Type: cfgMode, Data: mode}},
		{{Type: cfgQThresh, Data: be32(batchCopies)}},
		{{Type: cfgTimeout, Data: be32(uint32(batchWait / (10 * time.Millisecond)))}},
	} {
		if err := o.config(attrs); err != nil {
			return fmt.Errorf("nflog bind group %d: %w", LogGroup, err)
		}
	}
	return nil
}

func (o *Observer) config(attrs []netlink.Attribute) error {
	body, err := netlink.MarshalAttributes(attrs)
	if err != nil {
		return err
	}
	hdr := []byte{unix.AF_UNSPEC, 0, 0, 0}
	binary.BigEndian.PutUint16(hdr[2:], LogGroup)
	_, err = o.conn.Execute(netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(subsysULOG<<8 | msgConfig), Flags: netlink.Request | netlink.Acknowledge},
		Data:   append(hdr, body...),
	})
	return err
}

// Batching of the copies: a copy reaches the reader at most batchWait
// after its packet.
const (
	batchCopies = 64
	batchWait   = 100 * time.Millisecond
)

// ErrLost is returned by Read when the kernel dropped copies because the
// reader fell behind (the socket's buffer overflowed); reading goes on.
var ErrLost = errors.New("observed packets lost: the reader fell behind")

// Read waits for the next batch of copies. A packet it cannot parse is
// skipped. After Close it returns an error.
func (o *Observer) Read() ([]Observed, error) {
	msgs, err := o.conn.Receive()
	if err != nil {
		if errors.Is(err, unix.ENOBUFS) {
			return nil, ErrLost
		}
		return nil, err
	}
	out := make([]Observed, 0, len(msgs))
	for _, m := range msgs {
		if m.Header.Type != netlink.HeaderType(subsysULOG<<8|msgPacket) || len(m.Data) < 4 {
			continue
		}
		if p, ok := parseObserved(m.Data[4:]); ok {
			out = append(out, p)
		}
	}
	return out, nil
}

// Close unbinds the group.
func (o *Observer) Close() error { return o.conn.Close() }

func parseObserved(b []byte) (Observed, bool) {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return Observed{}, false
	}
	ad.ByteOrder = binary.BigEndian
	var p Observed
	var payload []byte
	for ad.Next() {
		switch ad.Type() {
		case attrPrefix:
			switch s := ad.String(); s {
			case prefixPassed:
				p.Verdict = Passed
			case prefixEgress:
				p.Verdict = DroppedEgress
			case prefixIngress:
				p.Verdict = DroppedIngress
			}
		case attrPayload:
			payload = ad.Bytes()
		case attrTimestamp:
			if ts := ad.Bytes(); len(ts) == 16 {
				p.Time = time.Unix(int64(binary.BigEndian.Uint64(ts)), int64(binary.BigEndian.Uint64(ts[8:]))*1000)
			}
		}
	}
	if ad.Err() != nil || p.Verdict == 0 || !parsePacket(payload, &p) {
		return Observed{}, false
	}
	if p.Time.IsZero() {
		p.Time = time.Now()
	}
	return p, true
}

// parsePacket reads the addresses, protocol and ports of an IP packet.
func parsePacket(b []byte, p *Observed) bool {
	if len(b) < 1 {
		return false
	}
	var l4 []byte
	switch b[0] >> 4 {
	case 4:
		ihl := int(b[0]&0x0f) * 4
		if len(b) < 20 || ihl < 20 || len(b) < ihl {
			return false
		}
		p.Src, _ = netip.AddrFromSlice(b[12:16])
		p.Dst, _ = netip.AddrFromSlice(b[16:20])
		p.Proto = model.Proto(b[9])
		p.Len = int(binary.BigEndian.Uint16(b[2:4]))
		l4 = b[ihl:]
	case 6:
		if len(b) < 40 {
			return false
		}
		p.Src, _ = netip.AddrFromSlice(b[8:24])
		p.Dst, _ = netip.AddrFromSlice(b[24:40])
		p.Proto = model.Proto(b[6]) // extension headers are not followed: the lab sends none
		p.Len = 40 + int(binary.BigEndian.Uint16(b[4:6]))
		l4 = b[40:]
	default:
		return false
	}
	switch p.Proto {
	case model.ProtoICMP, model.ProtoICMPv6:
		if len(l4) >= 2 {
			p.Type, p.Code = l4[0], l4[1]
		}
	default:
		if len(l4) >= 4 {
			p.SrcPort, p.DstPort = binary.BigEndian.Uint16(l4), binary.BigEndian.Uint16(l4[2:])
		}
	}
	return true
}

// FlowKey names one tracked flow as its first packet saw it.
type FlowKey struct {
	Src, Dst         netip.Addr
	Proto            model.Proto
	SrcPort, DstPort uint16
}

// FlowCount is what conntrack counted of one flow (with accounting on):
// the packets and bytes of each direction.
type FlowCount struct {
	OrigPackets, OrigBytes   uint64
	ReplyPackets, ReplyBytes uint64
}

// FlowCounters reads the conntrack table of the namespace: every tracked
// flow with its counters (zero for flows that began before accounting was
// turned on by Observer).
func (t *Table) FlowCounters() (map[FlowKey]FlowCount, error) {
	h, err := vnl.NewHandleAt(netns.NsHandle(t.ns.Fd()), unix.NETLINK_NETFILTER)
	if err != nil {
		return nil, fmt.Errorf("conntrack netlink: %w", err)
	}
	defer h.Close()
	out := map[FlowKey]FlowCount{}
	for _, fam := range []vnl.InetFamily{unix.AF_INET, unix.AF_INET6} {
		flows, err := h.ConntrackTableList(vnl.ConntrackTable, fam)
		if err != nil {
			return nil, fmt.Errorf("list conntrack: %w", err)
		}
		for _, f := range flows {
			k := FlowKey{Src: ipAddr(f.Forward.SrcIP), Dst: ipAddr(f.Forward.DstIP), Proto: model.Proto(f.Forward.Protocol),
				SrcPort: f.Forward.SrcPort, DstPort: f.Forward.DstPort}
			out[k] = FlowCount{f.Forward.Packets, f.Forward.Bytes, f.Reverse.Packets, f.Reverse.Bytes}
		}
	}
	return out, nil
}

// Decider decides the Passed copies: one is Accepted unless the
// DroppedIngress copy of the same packet follows, which the kernel queues
// right behind it (in the same batch, or the next one when the batch
// filled up between them, so within batchWait). It is not safe for
// concurrent use.
type Decider struct {
	pending map[FlowKey]pendingCopy
}

type pendingCopy struct {
	p    Observed
	seen time.Time
}

// decideWait is how long a Passed copy waits for its DroppedIngress: the
// kernel flushes a batch within batchWait.
const decideWait = 2 * batchWait

// Add takes one copy and returns the copies it decides.
func (d *Decider) Add(p Observed, now time.Time) []Observed {
	if d.pending == nil {
		d.pending = map[FlowKey]pendingCopy{}
	}
	k := p.Key()
	switch p.Verdict {
	case Passed:
		var out []Observed
		if old, ok := d.pending[k]; ok { // a retransmission: the earlier one went through
			old.p.Verdict = Accepted
			out = append(out, old.p)
		}
		d.pending[k] = pendingCopy{p, now}
		return out
	case DroppedIngress:
		delete(d.pending, k)
	}
	return []Observed{p}
}

// Flush decides the Passed copies that waited decideWait: they were
// accepted.
func (d *Decider) Flush(now time.Time) []Observed {
	var out []Observed
	for k, c := range d.pending {
		if now.Sub(c.seen) >= decideWait {
			c.p.Verdict = Accepted
			out = append(out, c.p)
			delete(d.pending, k)
		}
	}
	return out
}

// Key is the flow of the packet, as its first packet saw it.
func (p *Observed) Key() FlowKey {
	return FlowKey{Src: p.Src.Unmap(), Dst: p.Dst.Unmap(), Proto: p.Proto, SrcPort: p.SrcPort, DstPort: p.DstPort}
}
