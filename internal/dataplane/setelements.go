package dataplane

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/google/nftables/expr"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/nsexec"
)

// set is one named set or verdict map of the table.
type set struct {
	name     string
	fields   []keyType // more than one: a concatenation
	interval bool      // elements are ranges (key … end); with ≥ 2 fields the kernel picks pipapo
	timeout  bool      // some elements expire (expiring.go): the set has the timeout flag
	vmap     bool      // a verdict map (key : verdict)
	elems    []element // sorted by key
}

// keyLen is the key length the kernel expects: fields of a concatenation
// are each padded to 4 bytes.
func (s *set) keyLen() int {
	if len(s.fields) == 1 {
		return s.fields[0].size
	}
	n := 0
	for _, f := range s.fields {
		n += 4 * words(f)
	}
	return n
}

// typeText is the set's type as nft writes it: "ipv4_addr . inet_proto".
func (s *set) typeText() string {
	names := make([]string, len(s.fields))
	for i, f := range s.fields {
		names[i] = f.name
	}
	t := strings.Join(names, " . ")
	if s.vmap {
		t += " : verdict"
	}
	return t
}

// element is one element of a set or map.
type element struct {
	key, end []byte        // end: interval sets only (the last value of every field)
	verdict  *expr.Verdict // verdict maps only: what the element decides
	exp      expiry        // when the element ends (a kernel timeout); 0 never
	text     string
}

// id identifies the element within its set (keys have the set's length).
func (e element) id() string {
	return string(e.key) + string(e.end) + verdictID(e.verdict) + "@" + strconv.FormatInt(int64(e.exp), 10)
}

// hexID identifies the element readably, for kernel comparisons.
func (e element) hexID() string {
	return hex.EncodeToString(e.key) + "-" + hex.EncodeToString(e.end) + ":" + verdictID(e.verdict)
}

// verdictID writes a map element's verdict as its kernel code and chain
// ("-4 eni-…_out" for a goto), "" for an element of a plain set.
func verdictID(v *expr.Verdict) string {
	if v == nil {
		return ""
	}
	return strconv.Itoa(int(v.Kind)) + " " + v.Chain
}

// value is one field of an element: its bytes and its nft text.
type value struct {
	b    []byte
	text string
}

// pack joins the field values of a key, padding each field of a
// concatenation to 4 bytes.
func pack(concat bool, vals []value) []byte {
	var out []byte
	for _, v := range vals {
		out = append(out, v.b...)
		if concat {
			out = append(out, make([]byte, (4-len(v.b)%4)%4)...)
		}
	}
	return out
}

// plainElem is an element of a non-interval set.
func plainElem(concat bool, vals ...value) element {
	texts := make([]string, len(vals))
	for i, v := range vals {
		texts[i] = v.text
	}
	return element{key: pack(concat, vals), text: strings.Join(texts, " . ")}
}

// rangeElem is an element of an interval set: one range per field, each
// written as nft writes it.
func rangeElem(los, his []value, texts []string) element {
	concat := len(los) > 1
	return element{key: pack(concat, los), end: pack(concat, his), text: strings.Join(texts, " . ")}
}

// ifaceVal is the router-side interface named name, by its index
// (nsexec.IfIndex) in host byte order, as meta iif loads it; nft writes it
// as the number when no interface of the namespace has it.
func ifaceVal(name string) value {
	x := nsexec.IfIndex(name)
	return value{binary.NativeEndian.AppendUint32(nil, uint32(x)), strconv.Itoa(x)}
}

func addrVal(a netip.Addr) value { return value{a.AsSlice(), a.String()} }

func protoVal(p uint8) value { return value{[]byte{p}, protoName(p)} }

func portVal(p uint16) value {
	return value{binary.BigEndian.AppendUint16(nil, p), strconv.Itoa(int(p))}
}

// protoName writes an IP protocol as nft accepts it: a name for the common
// ones, else the number.
func protoName(p uint8) string {
	switch model.Proto(p) {
	case model.ProtoTCP:
		return "tcp"
	case model.ProtoUDP:
		return "udp"
	case model.ProtoICMP:
		return "icmp"
	case model.ProtoICMPv6:
		return "ipv6-icmp"
	}
	return strconv.Itoa(int(p))
}

// numRange writes lo-hi, or one number.
func numRange[T uint8 | uint16](lo, hi T, name func(T) string) string {
	if lo == hi {
		return name(lo)
	}
	return fmt.Sprintf("%d-%d", lo, hi)
}

// addrRange is a run of addresses of one family, [lo, hi], and when the
// rules that allow it expire (expiring.go).
type addrRange struct {
	lo, hi netip.Addr
	exp    expiry
}

// text writes the range as a prefix when it is one, else lo-hi.
func (r addrRange) text() string {
	if r.lo == r.hi {
		return r.lo.String()
	}
	for bits := 0; bits <= r.lo.BitLen(); bits++ {
		p := netip.PrefixFrom(r.lo, bits)
		if p.Masked().Addr() == r.lo && lastAddr(p) == r.hi {
			return p.String()
		}
	}
	return r.lo.String() + "-" + r.hi.String()
}

// lastAddr is the highest address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
