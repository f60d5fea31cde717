package dataplane

import (
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// This file builds rules twice at once: as nft text (what Render prints and
// `nft -f` accepts) and as the expressions sent over netlink. Both come from
// one call, so they cannot drift apart; the kernel cross-check test proves
// that nft compiles the text into the very bytecode we send, register
// numbers included.

// keyType is the type of one field of a set key.
type keyType struct {
	name string // as nft writes it: "ipv4_addr"
	dt   nftables.SetDatatype
	size int // bytes of a value, before padding
}

var (
	tIface = keyType{"iface_index", nftables.TypeIFIndex, 4}
	tIPv4  = keyType{"ipv4_addr", nftables.TypeIPAddr, 4}
	tIPv6  = keyType{"ipv6_addr", nftables.TypeIP6Addr, 16}
	tProto = keyType{"inet_proto", nftables.TypeInetProto, 1}
	tPort  = keyType{"inet_service", nftables.TypeInetService, 2}
)

// load is an expression that loads one packet field into a register.
type load struct {
	text string
	typ  keyType
	mk   func(reg uint32) expr.Any
}

func metaLoad(k expr.MetaKey) func(uint32) expr.Any {
	return func(reg uint32) expr.Any { return &expr.Meta{Key: k, Register: reg} }
}

func payloadLoad(base expr.PayloadBase, off, n uint32) func(uint32) expr.Any {
	return func(reg uint32) expr.Any {
		return &expr.Payload{DestRegister: reg, Base: base, Offset: off, Len: n}
	}
}

var (
	ldNfproto = load{"meta nfproto", keyType{}, metaLoad(expr.MetaKeyNFPROTO)}
	ldL4proto = load{"meta l4proto", tProto, metaLoad(expr.MetaKeyL4PROTO)}
	// The interfaces by index (nsexec.IfIndex): four bytes from the
	// device, where iifname/oifname copy a 16-byte name.
	ldIif = load{"iif", tIface, metaLoad(expr.MetaKeyIIF)}
	ldOif = load{"oif", tIface, metaLoad(expr.MetaKeyOIF)}
	// ldDport reads the destination port of TCP and UDP (and of every
	// protocol whose header starts with two ports).
	ldDport = load{"th dport", tPort, payloadLoad(expr.PayloadBaseTransportHeader, 2, 2)}
	// ldICMP reads an ICMP or ICMPv6 header's type and code as one 16-bit
	// value, type<<8|code: the space of model.ICMPFilter.Span and
	// model.ICMPKey. (th dport would read the checksum.)
	ldICMP = load{"@th,0,16", tPort, payloadLoad(expr.PayloadBaseTransportHeader, 0, 2)}
)

// ldAddr loads the source or destination address of an IPv4 or IPv6 packet.
// Only after a "meta nfproto" match: in an inet table the other family's
// header would be read.
func ldAddr(v6, src bool) load {
	switch {
	case !v6 && src:
		return load{"ip saddr", tIPv4, payloadLoad(expr.PayloadBaseNetworkHeader, 12, 4)}
	case !v6:
		return load{"ip daddr", tIPv4, payloadLoad(expr.PayloadBaseNetworkHeader, 16, 4)}
	case src:
		return load{"ip6 saddr", tIPv6, payloadLoad(expr.PayloadBaseNetworkHeader, 8, 16)}
	}
	return load{"ip6 daddr", tIPv6, payloadLoad(expr.PayloadBaseNetworkHeader, 24, 16)}
}

// reg numbers the register that starts at 32-bit word k of the register
// file as nft does: the 128-bit register (NFT_REG_1…4) at a 16-byte
// boundary, else the 32-bit one (NFT_REG32_00 + k). Concatenations fill
// consecutive words, each field padded to 4 bytes.
func reg(k int) uint32 {
	if k%4 == 0 {
		return uint32(unix.NFT_REG_1 + k/4)
	}
	return uint32(unix.NFT_REG32_00 + k)
}

func words(t keyType) int { return (t.size + 3) / 4 }

// rule is one nft rule: its text and its expressions.
type rule struct {
	text  string
	exprs []expr.Any
}

// ruleBuilder builds a rule statement by statement; every statement starts again at
// register 1, as nft's do.
type ruleBuilder struct {
	parts []string
	exprs []expr.Any
}

func (b *ruleBuilder) add(text string, es ...expr.Any) *ruleBuilder {
	b.parts = append(b.parts, text)
	b.exprs = append(b.exprs, es...)
	return b
}

// eq matches l == val (text is val as nft writes it).
func (b *ruleBuilder) eq(l load, val []byte, text string) *ruleBuilder {
	return b.add(l.text+" "+text, l.mk(reg(0)), &expr.Cmp{Op: expr.CmpOpEq, Register: reg(0), Data: val})
}

// neq matches l != val.
func (b *ruleBuilder) neq(l load, val []byte, text string) *ruleBuilder {
	return b.add(l.text+" != "+text, l.mk(reg(0)), &expr.Cmp{Op: expr.CmpOpNeq, Register: reg(0), Data: val})
}

// lookup matches when the concatenation of loads is (inv: is not) in set.
func (b *ruleBuilder) lookup(loads []load, set string, inv bool) *ruleBuilder {
	texts, es := keyLoads(loads)
	op := " @"
	if inv {
		op = " != @"
	}
	es = append(es, &expr.Lookup{SourceRegister: reg(0), SetName: set, Invert: inv})
	return b.add(strings.Join(texts, " . ")+op+set, es...)
}

// vmap jumps as the verdict map m says for the concatenation of loads;
// a key m does not hold goes on to the next rule.
func (b *ruleBuilder) vmap(loads []load, m string) *ruleBuilder {
	texts, es := keyLoads(loads)
	es = append(es, &expr.Lookup{SourceRegister: reg(0), DestRegister: unix.NFT_REG_VERDICT, IsDestRegSet: true, SetName: m})
	return b.add(strings.Join(texts, " . ")+" vmap @"+m, es...)
}

// keyLoads loads the concatenation of loads from register 1 on, each
// field in whole registers, as nft lays out a concatenated key.
func keyLoads(loads []load) (texts []string, es []expr.Any) {
	k := 0
	for _, l := range loads {
		texts = append(texts, l.text)
		es = append(es, l.mk(reg(k)))
		k += words(l.typ)
	}
	return texts, es
}

// Conntrack state bits (nf_conntrack_common.h: NF_CT_STATE_BIT).
const (
	ctInvalid     = 1
	ctEstablished = 2
	ctRelated     = 4
)

// ctState matches when the flow's state has one of bits.
func (b *ruleBuilder) ctState(bits uint32, text string) *ruleBuilder {
	zero := make([]byte, 4)
	return b.add("ct state "+text,
		&expr.Ct{Key: expr.CtKeySTATE, Register: reg(0)},
		&expr.Bitwise{SourceRegister: reg(0), DestRegister: reg(0), Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(bits), Xor: zero},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: reg(0), Data: zero})
}

// ctTimeout assigns the ct timeout object obj to the (new) flow.
func (b *ruleBuilder) ctTimeout(obj string) *ruleBuilder {
	return b.add(`ct timeout set "`+obj+`"`, &expr.Objref{Type: int(nftables.ObjTypeCtTimeout), Name: obj})
}

// counter counts the packets and bytes that reach it (Table.Drops reads
// those of the port chains' final drops).
func (b *ruleBuilder) counter() *ruleBuilder { return b.add("counter", &expr.Counter{}) }

func (b *ruleBuilder) accept() rule { return b.verdict("accept", expr.VerdictAccept, "") }
func (b *ruleBuilder) drop() rule   { return b.verdict("drop", expr.VerdictDrop, "") }
func (b *ruleBuilder) jump(chain string) rule {
	return b.verdict("jump "+chain, expr.VerdictJump, chain)
}

// goTo continues in chain and does not come back: when chain ends without
// a verdict, evaluation returns to the caller of the last jump (or, with
// none, to the base chain's policy), not to the rule after this one.
func (b *ruleBuilder) goTo(chain string) rule {
	return b.verdict("goto "+chain, expr.VerdictGoto, chain)
}

func (b *ruleBuilder) verdict(text string, k expr.VerdictKind, chain string) rule {
	return b.add(text, &expr.Verdict{Kind: k, Chain: chain}).done()
}

// done ends a rule whose last statement decides (vmap) or that has no
// verdict (ct timeout set).
func (b *ruleBuilder) done() rule { return rule{text: strings.Join(b.parts, " "), exprs: b.exprs} }

// nfproto matches the address family.
func (b *ruleBuilder) nfproto(v6 bool) *ruleBuilder {
	if v6 {
		return b.eq(ldNfproto, []byte{unix.NFPROTO_IPV6}, "ipv6")
	}
	return b.eq(ldNfproto, []byte{unix.NFPROTO_IPV4}, "ipv4")
}
