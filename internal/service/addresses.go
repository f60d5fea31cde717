package service

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"palisade.dev/palisade/internal/model"
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

// addrPool is the address state of one subnet during one transaction:
// allocations made through it are seen by later ones.
type addrPool struct {
	subnet *model.Subnet
	used   map[netip.Addr]bool
	next4  uint64 // no free IPv4 address below this offset
	next6  uint64 // no free IPv6 address below this offset
}

// addrPools hands out one pool per subnet, so that several allocations in
// one operation see each other.
type addrPools struct {
	t     *tx
	enis  []eniRecord // loaded once
	byID  map[model.SubnetID]*addrPool
	ready bool
}

func newAddrPools(t *tx) *addrPools {
	return &addrPools{t: t, byID: map[model.SubnetID]*addrPool{}}
}

// of returns the pool of subnet sn.
func (ps *addrPools) of(sn *model.Subnet) (*addrPool, error) {
	if p := ps.byID[sn.ID]; p != nil {
		return p, nil
	}
	if !ps.ready {
		enis, err := list[eniRecord](ps.t, kindENI)
		if err != nil {
			return nil, err
		}
		ps.enis, ps.ready = enis, true
	}
	p := &addrPool{subnet: sn, used: map[netip.Addr]bool{}, next4: reservedHead, next6: reservedHead}
	for _, e := range ps.enis {
		if e.Subnet != sn.ID {
			continue
		}
		for _, a := range e.Addrs() {
			p.used[a] = true
		}
	}
	ps.byID[sn.ID] = p
	return p, nil
}

// claim takes a specific IPv4 address: it must be inside the subnet, not
// reserved and free.
func (p *addrPool) claim(a netip.Addr) error {
	switch {
	case !a.Is4() || !p.subnet.CIDR.Contains(a):
		return model.Errorf(model.CodeInvalidParameterValue, "Address %s does not fall within the subnet's address range", a)
	case isReserved(p.subnet.CIDR, a):
		return model.Errorf(model.CodeInvalidParameterValue, "Address %s is in subnet's reserved address range", a)
	case p.used[a]:
		return model.Errorf(codeIPInUse, "Address %s is in use.", a)
	}
	p.used[a] = true
	return nil
}

// take4 allocates the lowest free IPv4 address.
func (p *addrPool) take4() (netip.Addr, error) {
	a, next, ok := p.scan(p.subnet.CIDR, p.next4)
	if !ok {
		return netip.Addr{}, p.insufficient()
	}
	p.next4, p.used[a] = next, true
	return a, nil
}

// take6 allocates the lowest free IPv6 address of the subnet's /64.
func (p *addrPool) take6() (netip.Addr, error) {
	if !p.subnet.IPv6CIDR.IsValid() {
		return netip.Addr{}, noIPv6(p.subnet.ID)
	}
	a, next, ok := p.scan(p.subnet.IPv6CIDR, p.next6)
	if !ok {
		return netip.Addr{}, p.insufficient()
	}
	p.next6, p.used[a] = next, true
	return a, nil
}

// scan finds the first free, unreserved address of pfx at or after offset
// from. A /64 has far more addresses than any store holds interfaces, so
// the loop ends after at most len(used)+1 steps there.
func (p *addrPool) scan(pfx netip.Prefix, from uint64) (netip.Addr, uint64, bool) {
	last := lastOffset(pfx)
	for off := from; off < last; off++ {
		if a := addrAt(pfx, off); !p.used[a] {
			return a, off + 1, true
		}
	}
	return netip.Addr{}, last, false
}

// free4 counts the IPv4 addresses still free in the subnet.
func (p *addrPool) free4() int {
	total := int(lastOffset(p.subnet.CIDR)) + 1 - reservedHead - 1
	for a := range p.used {
		if a.Is4() {
			total--
		}
	}
	return total
}

func (p *addrPool) insufficient() error {
	return model.Errorf(codeInsufficientAddresses, "There are not enough free addresses in subnet '%s' to satisfy the requested number of instances.", p.subnet.ID)
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

// EC2 codes this file returns that model has no constant for yet.
const (
	codeIPInUse               = "InvalidIPAddress.InUse"
	codeInsufficientAddresses = "InsufficientFreeAddressesInSubnet"
)
