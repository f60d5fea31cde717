package dataplane

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// vm runs a ruleset's expressions over a synthetic packet, the way
// nf_tables evaluates them (registers, byte orders, concatenations, set
// lookups field by field, jumps): a pure model of the kernel for the
// differential test. The kernel cross-check test shows that nft compiles
// Render's text into these same expressions, and the traffic tests that
// the kernel enforces them.
type vm struct {
	rs     *ruleset
	sets   map[string]*set
	chains map[string]*chain
}

func newVM(rs *ruleset) *vm {
	return &vm{
		rs:     rs,
		sets:   byName(rs.sets, func(s *set) string { return s.name }),
		chains: byName(rs.chains, func(c *chain) string { return c.name }),
	}
}

// packet is the first packet of a new flow, as the forward hook sees it.
type packet struct {
	iif, oif string
	v6       bool
	network  []byte // the IP header
	l4proto  uint8
	th       []byte // the transport header
}

// newPacket builds a packet from src to dst of protocol proto whose first
// four transport bytes are th.
func newPacket(iif, oif string, src, dst netip.Addr, proto uint8, th [4]byte) packet {
	p := packet{iif: iif, oif: oif, v6: src.Is6(), l4proto: proto, th: append(th[:], make([]byte, 16)...)}
	if p.v6 {
		p.network = make([]byte, 40)
		copy(p.network[8:], src.AsSlice())
		copy(p.network[24:], dst.AsSlice())
	} else {
		p.network = make([]byte, 20)
		copy(p.network[12:], src.AsSlice())
		copy(p.network[16:], dst.AsSlice())
	}
	return p
}

const ctNew = 8 // NF_CT_STATE_BIT(IP_CT_NEW)

// forward reports whether every base chain accepts p.
func (m *vm) forward(p packet) (bool, error) {
	for _, c := range m.rs.chains {
		if c.base == nil {
			continue
		}
		v, err := m.run(c, p, 0)
		if err != nil || v != expr.VerdictAccept {
			return false, err
		}
	}
	return true, nil
}

// run evaluates a chain: a verdict, or VerdictContinue when a regular
// chain ends (back to the caller); a base chain ends with its policy, drop.
// A jump comes back to the next rule when its chain ends; a goto does not:
// the chain that made it ends with the chain it went to (so a goto'd chain
// that ends returns to the caller of the last jump).
func (m *vm) run(c *chain, p packet, depth int) (expr.VerdictKind, error) {
	if c == nil || depth > 16 {
		return 0, fmt.Errorf("missing chain or jump loop")
	}
	for _, r := range c.rules {
		v, err := m.rule(r, p)
		if err != nil {
			return 0, fmt.Errorf("%s: %s: %w", c.name, r.text, err)
		}
		switch v.Kind {
		case expr.VerdictContinue:
			continue
		case expr.VerdictJump, expr.VerdictGoto:
			got, err := m.run(m.chains[v.Chain], p, depth+1)
			if err != nil || got != expr.VerdictContinue {
				return got, err
			}
			if v.Kind == expr.VerdictGoto {
				return m.end(c), nil
			}
			continue
		}
		return v.Kind, nil
	}
	return m.end(c), nil
}

// end is what a chain that ends without a verdict decides: a base chain its
// policy, drop; a regular chain nothing (back to the caller).
func (m *vm) end(c *chain) expr.VerdictKind {
	if c.base != nil {
		return expr.VerdictDrop
	}
	return expr.VerdictContinue
}

// rule evaluates one rule: its verdict (a jump or goto names its chain),
// or VerdictContinue when a match fails or it has none.
func (m *vm) rule(r rule, p packet) (expr.Verdict, error) {
	next := expr.Verdict{Kind: expr.VerdictContinue}
	var regs [80]byte // 20 32-bit words: the verdict, then data
	at := func(reg uint32) []byte {
		w := reg * 4 // NFT_REG_1…4 are 16 bytes each
		if reg >= unix.NFT_REG32_00 {
			w = reg - unix.NFT_REG32_00 + 4
		}
		return regs[w*4:]
	}
	store := func(reg uint32, b []byte) {
		d := at(reg)
		clear(d[:(len(b)+3)/4*4])
		copy(d, b)
	}
	for _, e := range r.exprs {
		switch e := e.(type) {
		case *expr.Meta:
			store(e.Register, p.meta(e.Key))
		case *expr.Payload:
			src := p.network
			if e.Base == expr.PayloadBaseTransportHeader {
				src = p.th
			}
			store(e.DestRegister, src[e.Offset:e.Offset+e.Len])
		case *expr.Ct:
			store(e.Register, binary.NativeEndian.AppendUint32(nil, ctNew))
		case *expr.Bitwise:
			d := at(e.DestRegister)
			for i := range e.Len {
				d[i] = at(e.SourceRegister)[i]&e.Mask[i] ^ e.Xor[i]
			}
		case *expr.Cmp:
			if !cmpOK(e.Op, bytes.Compare(at(e.Register)[:len(e.Data)], e.Data)) {
				return next, nil
			}
		case *expr.Lookup:
			s := m.sets[e.SetName]
			if s == nil {
				return next, fmt.Errorf("no set %s", e.SetName)
			}
			el, found := s.find(at(e.SourceRegister)[:s.keyLen()])
			if e.IsDestRegSet {
				if !found {
					return next, nil
				}
				return *el.verdict, nil
			}
			if found == e.Invert {
				return next, nil
			}
		case *expr.Objref, *expr.Counter, *expr.Log:
		case *expr.Verdict:
			return *e, nil
		default:
			return next, fmt.Errorf("vm: no model of %T", e)
		}
	}
	return next, nil
}

func cmpOK(op expr.CmpOp, c int) bool {
	switch op {
	case expr.CmpOpEq:
		return c == 0
	case expr.CmpOpNeq:
		return c != 0
	case expr.CmpOpGte:
		return c >= 0
	case expr.CmpOpLte:
		return c <= 0
	}
	return false
}

func (p packet) meta(k expr.MetaKey) []byte {
	switch k {
	case expr.MetaKeyNFPROTO:
		if p.v6 {
			return []byte{unix.NFPROTO_IPV6}
		}
		return []byte{unix.NFPROTO_IPV4}
	case expr.MetaKeyL4PROTO:
		return []byte{p.l4proto}
	case expr.MetaKeyIIF:
		return ifaceVal(p.iif).b
	case expr.MetaKeyOIF:
		return ifaceVal(p.oif).b
	}
	panic(fmt.Sprintf("vm: meta key %d", k))
}

// find looks key up: exactly in a hash set; field by field (each padded to
// 4 bytes, compared in network order) between key and end in an interval
// set, as pipapo does.
func (s *set) find(key []byte) (element, bool) {
	for _, e := range s.elems {
		if !s.interval && bytes.Equal(e.key, key) {
			return e, true
		}
		if s.interval && inRanges(s, e, key) {
			return e, true
		}
	}
	return element{}, false
}

func inRanges(s *set, e element, key []byte) bool {
	off := 0
	for _, f := range s.fields {
		n := 4 * words(f)
		k, lo, hi := key[off:off+n], e.key[off:off+n], e.end[off:off+n]
		if bytes.Compare(k, lo) < 0 || bytes.Compare(k, hi) > 0 {
			return false
		}
		off += n
	}
	return true
}
