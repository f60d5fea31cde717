package service

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/bits"
	"net/netip"
	"slices"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/store"
)

// Address allocation inside a subnet.
//
// AWS reserves the first four addresses and the last one of every subnet
// block, IPv4 and IPv6 alike (network, VPC router, DNS, future use,
// broadcast): an interface never gets them, and asking for one is an error.
// Palisade hands out the lowest free address above the reserved head, for
// IPv6 too (AWS picks IPv6 addresses at random; lowest-free is deterministic,
// which tests and lab users prefer, and it reuses the addresses of deleted
// interfaces first). An address is in use while an interface of the subnet
// holds it, attached or not.
const reservedHead = 4

// maxIPv6PerInterface caps Ipv6AddressCount. AWS's cap depends on the
// instance type (2 for a t3.micro, up to 50); Palisade has no per-type
// table and allows this many on any interface.
const maxIPv6PerInterface = 10

// hostBits is how many host bits p has (at most 64: subnets are /16 to /28
// for IPv4 and /64 for IPv6).
func hostBits(p netip.Prefix) int { return p.Addr().BitLen() - p.Bits() }

// lastOffset is the offset of the last address of p (the reserved one).
func lastOffset(p netip.Prefix) uint64 {
	hb := hostBits(p)
	if hb >= 64 {
		return ^uint64(0)
	}
	return 1<<hb - 1
}

// offsetOf returns a's offset inside p (a must be inside p).
func offsetOf(p netip.Prefix, a netip.Addr) uint64 {
	if a.Is4() {
		b := a.As4()
		return uint64(binary.BigEndian.Uint32(b[:])) & lastOffset(p)
	}
	b := a.As16()
	return binary.BigEndian.Uint64(b[8:]) & lastOffset(p)
}

// addrAt returns the address at offset off inside p.
func addrAt(p netip.Prefix, off uint64) netip.Addr {
	base := p.Masked().Addr()
	if base.Is4() {
		b := base.As4()
		binary.BigEndian.PutUint32(b[:], binary.BigEndian.Uint32(b[:])|uint32(off))
		return netip.AddrFrom4(b)
	}
	b := base.As16()
	binary.BigEndian.PutUint64(b[8:], binary.BigEndian.Uint64(b[8:])|off)
	return netip.AddrFrom16(b)
}

// isReserved reports whether a (inside p) is one of the five addresses AWS
// keeps for itself.
func isReserved(p netip.Prefix, a netip.Addr) bool {
	off := offsetOf(p, a)
	return off < reservedHead || off == lastOffset(p)
}

// The address index of a subnet (see index.go). Its used addresses are
// bitmaps of chunkBits consecutive offsets, one key per chunk that holds a
// used address, under a head that says the index is built, how many IPv4
// addresses are in use and below which offsets none is free:
//
//	x/<account>/<region>/ip/<subnet>              poolHead
//	x/<account>/<region>/ip/<subnet>/4/<chunk>    IPv4 offsets chunk·4096 to chunk·4096+4095
//	x/<account>/<region>/ip/<subnet>/6/<chunk>    the same in the subnet's IPv6 /64
//
// Claiming an address reads its chunk; taking the lowest free one reads the
// head and the chunk at the head's mark (and the next ones only past
// addresses claimed by number): neither reads an interface, so neither
// grows with the interfaces of the subnet or the account. Bitmaps rather
// than one key per address because of store.MaxTxnWrites: a RunInstances
// of 50 instances writes 100 keys already, and one more per address would
// not fit, while its 50 addresses fall into one or two chunks. A chunk is at
// most 512 bytes, and a /20 is one chunk.
const chunkBits = 4096

// poolHead is the head key of a subnet's address index.
type poolHead struct {
	Used4 int    `json:"used4"` // IPv4 addresses in use
	Next4 uint64 `json:"next4"` // no IPv4 address below this offset is free
	Next6 uint64 `json:"next6"` // no IPv6 address below this offset is free
}

func poolHeadKey(c Caller, sn model.SubnetID) string { return indexKey(c, "ip/"+string(sn)) }

func chunkKey(c Caller, sn model.SubnetID, id chunkID) string {
	fam := "/4/"
	if id.v6 {
		fam = "/6/"
	}
	return fmt.Sprintf("%s%s%013x", poolHeadKey(c, sn), fam, id.n)
}

// chunkID names one chunk of a subnet's index.
type chunkID struct {
	v6 bool
	n  uint64 // offset / chunkBits
}

// poolChunk is one chunk as the transaction sees it.
type poolChunk struct {
	words  [chunkBits / 64]uint64 // bit i of word w: offset w·64+i is used
	stored bool                   // its key exists in the store
	dirty  bool                   // changed by this transaction
}

func (c *poolChunk) zero() bool { return c.words == [chunkBits / 64]uint64{} }

// firstFree returns the first clear bit at or after from.
func (c *poolChunk) firstFree(from uint64) (uint64, bool) {
	for w := from / 64; w < uint64(len(c.words)); w++ {
		free := ^c.words[w]
		if w == from/64 {
			free &^= 1<<(from%64) - 1
		}
		if free != 0 {
			return w*64 + uint64(bits.TrailingZeros64(free)), true
		}
	}
	return 0, false
}

// encode stores the words little-endian, without trailing zero words (a
// sparse IPv6 chunk is a few bytes), as a JSON string (base64).
func (c *poolChunk) encode() []byte {
	n := len(c.words)
	for n > 0 && c.words[n-1] == 0 {
		n--
	}
	b := make([]byte, 8*n)
	for i := range n {
		binary.LittleEndian.PutUint64(b[8*i:], c.words[i])
	}
	out, err := json.Marshal(b)
	if err != nil {
		panic(err) // a byte slice always encodes
	}
	return out
}

func (c *poolChunk) decode(v []byte) error {
	var b []byte
	if err := json.Unmarshal(v, &b); err != nil {
		return err
	}
	if len(b)%8 != 0 || len(b) > 8*len(c.words) {
		return fmt.Errorf("address chunk of %d bytes", len(b))
	}
	for i := range len(b) / 8 {
		c.words[i] = binary.LittleEndian.Uint64(b[8*i:])
	}
	return nil
}

// addrPool is the address index of one subnet during one transaction:
// allocations made through it are seen by later ones, and written by
// flush when the operation succeeds.
type addrPool struct {
	t         *tx
	subnet    *model.Subnet
	head      poolHead
	headDirty bool
	chunks    map[chunkID]*poolChunk // the chunks read so far
}

// addrPools hands out one pool per subnet, so that several allocations in
// one operation see each other.
type addrPools struct {
	t    *tx
	byID map[model.SubnetID]*addrPool
	// enis is every interface of the scope, listed once, and only to build
	// the index of a subnet that has none (ensureIndexes). The list may
	// predate the transaction's later writes; that is harmless because
	// every interface the transaction adds or removes goes through its
	// subnet's pool afterwards (newENI marks, deleteENI releases), and
	// both see the built bitmap.
	enis   []eniRecord
	listed bool
}

// pools returns the transaction's address pools.
func (t *tx) pools() *addrPools {
	if t.addrs == nil {
		t.addrs = &addrPools{t: t, byID: map[model.SubnetID]*addrPool{}}
	}
	return t.addrs
}

func newPool(t *tx, sn *model.Subnet) *addrPool {
	return &addrPool{t: t, subnet: sn, head: poolHead{Next4: reservedHead, Next6: reservedHead}, chunks: map[chunkID]*poolChunk{}}
}

// putNewSubnet stores a new subnet with its empty address index.
func (t *tx) putNewSubnet(sn *model.Subnet) error {
	p := newPool(t, sn)
	p.headDirty = true
	t.pools().byID[sn.ID] = p
	return t.put(kindSubnet, string(sn.ID), sn)
}

// of returns the pool of subnet sn, building its index if it has none.
func (ps *addrPools) of(sn *model.Subnet) (*addrPool, error) {
	if p := ps.byID[sn.ID]; p != nil {
		return p, nil
	}
	p := newPool(ps.t, sn)
	v, ok, err := ps.t.getIndex(poolHeadKey(ps.t.c, sn.ID))
	switch {
	case err != nil:
		return nil, err
	case ok:
		if err := json.Unmarshal(v, &p.head); err != nil {
			return nil, fmt.Errorf("decode address index of %s: %w", sn.ID, err)
		}
	default:
		if err := ps.build(p); err != nil {
			return nil, err
		}
	}
	ps.byID[sn.ID] = p
	return p, nil
}

// build fills the pool of a subnet that has no index yet from the
// addresses of its interfaces.
func (ps *addrPools) build(p *addrPool) error {
	if !ps.listed {
		enis, err := list[eniRecord](ps.t, kindENI)
		if err != nil {
			return err
		}
		ps.enis, ps.listed = enis, true
	}
	p.headDirty = true
	for i := range ps.enis {
		if e := &ps.enis[i]; e.Subnet == p.subnet.ID {
			for _, a := range e.Addrs() {
				if _, err := p.mark(a); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// pendingWrites is how many keys flush will write.
func (ps *addrPools) pendingWrites() int {
	if ps == nil {
		return 0
	}
	n := 0
	for _, p := range ps.byID {
		if p.headDirty {
			n++
		}
		for _, c := range p.chunks {
			if c.dirty && (c.stored || !c.zero()) {
				n++
			}
		}
	}
	return n
}

// flush writes the changed chunks (deleting empty ones: a chunk key exists
// only while it holds a used address) and heads, in key order.
func (ps *addrPools) flush() error {
	if ps == nil {
		return nil
	}
	for _, id := range slices.Sorted(maps.Keys(ps.byID)) {
		if err := ps.byID[id].flush(); err != nil {
			return err
		}
	}
	return nil
}

func (p *addrPool) flush() error {
	ids := slices.SortedFunc(maps.Keys(p.chunks), func(a, b chunkID) int {
		if a.v6 != b.v6 {
			return cmp.Compare(btoi(a.v6), btoi(b.v6))
		}
		return cmp.Compare(a.n, b.n)
	})
	for _, id := range ids {
		c := p.chunks[id]
		if !c.dirty {
			continue
		}
		var err error
		switch key := chunkKey(p.t.c, p.subnet.ID, id); {
		case !c.zero():
			err = p.t.Put(key, c.encode())
		case c.stored:
			err = p.t.Delete(key)
		}
		if err != nil {
			return err
		}
		c.dirty, c.stored = false, !c.zero()
	}
	if !p.headDirty {
		return nil
	}
	b, err := json.Marshal(p.head)
	if err != nil {
		return err
	}
	p.headDirty = false
	return p.t.Put(poolHeadKey(p.t.c, p.subnet.ID), b)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// save copies the pools' state for restore, which undoes the allocations
// made after save (RunInstances, when an instance does not fit).
func (ps *addrPools) save() map[model.SubnetID]*addrPool {
	out := make(map[model.SubnetID]*addrPool, len(ps.byID))
	for id, p := range ps.byID {
		q := *p
		q.chunks = make(map[chunkID]*poolChunk, len(p.chunks))
		for cid, c := range p.chunks {
			cc := *c
			q.chunks[cid] = &cc
		}
		out[id] = &q
	}
	return out
}

func (ps *addrPools) restore(saved map[model.SubnetID]*addrPool) { ps.byID = saved }

// prefix is the subnet's block of one family (invalid: none).
func (p *addrPool) prefix(v6 bool) netip.Prefix {
	if v6 {
		return p.subnet.IPv6CIDR
	}
	return p.subnet.CIDR
}

// chunk returns chunk id, reading it on first use.
func (p *addrPool) chunk(id chunkID) (*poolChunk, error) {
	if c := p.chunks[id]; c != nil {
		return c, nil
	}
	c := &poolChunk{}
	kv, err := p.t.Get(chunkKey(p.t.c, p.subnet.ID, id))
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return nil, err
	default:
		if err := c.decode(kv.Value); err != nil {
			return nil, fmt.Errorf("decode %s: %w", kv.Key, err)
		}
		c.stored = true
	}
	p.chunks[id] = c
	return c, nil
}

// bit returns the chunk, word and mask of address a; a nil chunk when a is
// outside the subnet's blocks.
func (p *addrPool) bit(a netip.Addr) (c *poolChunk, w int, mask uint64, off uint64, err error) {
	pfx := p.prefix(a.Is6())
	if !pfx.IsValid() || !pfx.Contains(a) {
		return nil, 0, 0, 0, nil
	}
	off = offsetOf(pfx, a)
	if c, err = p.chunk(chunkID{a.Is6(), off / chunkBits}); err != nil {
		return nil, 0, 0, 0, err
	}
	i := off % chunkBits
	return c, int(i / 64), 1 << (i % 64), off, nil
}

// mark records a as used and reports whether it was free.
func (p *addrPool) mark(a netip.Addr) (bool, error) {
	c, w, mask, _, err := p.bit(a)
	if c == nil || c.words[w]&mask != 0 {
		return false, err
	}
	c.words[w] |= mask
	c.dirty = true
	if a.Is4() {
		p.head.Used4++
		p.headDirty = true
	}
	return true, nil
}

// release records a as free again (a no-op if it is not used), so that it
// is the next one handed out if it is the lowest.
func (p *addrPool) release(a netip.Addr) error {
	c, w, mask, off, err := p.bit(a)
	if c == nil || c.words[w]&mask == 0 {
		return err
	}
	c.words[w] &^= mask
	c.dirty, p.headDirty = true, true
	if a.Is4() {
		p.head.Used4--
		p.head.Next4 = min(p.head.Next4, off)
	} else {
		p.head.Next6 = min(p.head.Next6, off)
	}
	return nil
}

// claim takes a specific IPv4 address: it must be inside the subnet, not
// reserved and free.
func (p *addrPool) claim(a netip.Addr) error {
	switch {
	case !a.Is4() || !p.subnet.CIDR.Contains(a):
		return model.Errorf(model.CodeInvalidParameterValue, "Address %s does not fall within the subnet's address range", a)
	case isReserved(p.subnet.CIDR, a):
		return model.Errorf(model.CodeInvalidParameterValue, "Address %s is in subnet's reserved address range", a)
	}
	free, err := p.mark(a)
	if err != nil {
		return err
	}
	if !free {
		return model.Errorf(model.CodeInvalidIPAddressInUse, "Address %s is in use.", a)
	}
	return nil
}

// take4 allocates the lowest free IPv4 address.
func (p *addrPool) take4() (netip.Addr, error) {
	off, ok, err := p.scan(false, p.head.Next4)
	if err != nil || !ok {
		return netip.Addr{}, cmp.Or(err, p.insufficient())
	}
	return p.takeAt(false, off)
}

// take6 allocates the lowest free IPv6 address of the subnet's /64.
func (p *addrPool) take6() (netip.Addr, error) {
	if !p.subnet.IPv6CIDR.IsValid() {
		return netip.Addr{}, noIPv6(p.subnet.ID)
	}
	off, ok, err := p.scan(true, p.head.Next6)
	if err != nil || !ok {
		return netip.Addr{}, cmp.Or(err, p.insufficient())
	}
	return p.takeAt(true, off)
}

// takeAt marks the free offset off used and moves the head's mark past it:
// everything below off was used, so everything up to it now is.
func (p *addrPool) takeAt(v6 bool, off uint64) (netip.Addr, error) {
	a := addrAt(p.prefix(v6), off)
	if _, err := p.mark(a); err != nil {
		return netip.Addr{}, err
	}
	if v6 {
		p.head.Next6 = off + 1
	} else {
		p.head.Next4 = off + 1
	}
	p.headDirty = true
	return a, nil
}

// scan finds the first free, unreserved offset of a family at or after
// from, reading chunk after chunk. A /64 has far more addresses than any
// store holds interfaces, so it ends at the first chunk with a free bit
// there.
func (p *addrPool) scan(v6 bool, from uint64) (uint64, bool, error) {
	last := lastOffset(p.prefix(v6))
	for off := from; off < last; {
		c, err := p.chunk(chunkID{v6, off / chunkBits})
		if err != nil {
			return 0, false, err
		}
		if i, ok := c.firstFree(off % chunkBits); ok {
			found := off - off%chunkBits + i
			return found, found < last, nil
		}
		next := (off/chunkBits + 1) * chunkBits
		if next <= off { // past the end of a full /64
			break
		}
		off = next
	}
	return 0, false, nil
}

// free4 counts the IPv4 addresses still free in the subnet.
func (p *addrPool) free4() int {
	return int(lastOffset(p.subnet.CIDR)) + 1 - reservedHead - 1 - p.head.Used4
}

func (p *addrPool) insufficient() error {
	return model.Errorf(model.CodeInsufficientAddresses, "There are not enough free addresses in subnet '%s' to satisfy the requested number of instances.", p.subnet.ID)
}

// noIPv6 is the error for IPv6 addresses requested in a subnet without an
// IPv6 block. [inferred] AWS's exact wording is not on record; the code is
// InvalidParameterValue like its other address errors.
func noIPv6(id model.SubnetID) error {
	return model.Errorf(model.CodeInvalidParameterValue, "You cannot assign IPv6 addresses in subnet '%s': it has no IPv6 CIDR block.", id)
}

// checkIPv6Count validates an Ipv6AddressCount.
func checkIPv6Count(n int32) error {
	if n < 0 || n > maxIPv6PerInterface {
		return model.Errorf(model.CodeInvalidParameterValue, "Value (%d) for parameter ipv6AddressCount is invalid. It must be between 0 and %d.", n, maxIPv6PerInterface)
	}
	return nil
}

// parsePrivateIP reads a PrivateIpAddress parameter ("" means none).
func parsePrivateIP(s string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return netip.Addr{}, model.Errorf(model.CodeInvalidParameterValue, "Value (%s) for parameter privateIpAddress is invalid. This is not a valid IPv4 address.", s)
	}
	return a, nil
}

// macFor derives an interface's MAC address from its ID: a locally
// administered unicast address (02:…) whose other five bytes are the last
// ten hex digits of the ID. IDs are random, so two interfaces of one VPC
// share a MAC with odds of about n²/2⁴¹; Palisade accepts that.
func macFor(id model.ENIID) string {
	s := string(id)
	h := s[len(s)-10:]
	return fmt.Sprintf("02:%s:%s:%s:%s:%s", h[0:2], h[2:4], h[4:6], h[6:8], h[8:10])
}

// privateDNSName is the name EC2 gives a private IPv4 address:
// ip-10-0-0-4.ec2.internal in us-east-1, ip-10-0-0-4.<region>.compute.internal
// elsewhere.
func privateDNSName(region string, a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	b := a.As4()
	host := fmt.Sprintf("ip-%d-%d-%d-%d", b[0], b[1], b[2], b[3])
	if region == "us-east-1" {
		return host + ".ec2.internal"
	}
	return host + "." + region + ".compute.internal"
}
