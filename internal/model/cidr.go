package model

import "net/netip"

// ParseCIDR4 reads the CidrIp of a rule: an IPv4 prefix in CIDR notation.
//
// Trap (docs/aws-semantics.md#cidrs): netip.ParsePrefix keeps host bits ("10.1.2.3/16"
// stays as written). AWS canonicalizes instead, so Palisade does too: host
// bits are cleared here, once, and "10.1.2.3/16" is stored, shown, compared
// for duplicates and matched on revoke as "10.1.0.0/16". A bare address
// without a length, an IPv6 prefix or an IPv4-mapped IPv6 prefix is
// malformed.
func ParseCIDR4(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, Errorf(CodeInvalidParameterValue, "CIDR block %s is malformed", s)
	}
	return p.Masked(), nil
}

// ParseCIDR6 reads the CidrIpv6 of a rule: an IPv6 prefix, canonicalized
// like ParseCIDR4. An IPv4 prefix here is malformed.
func ParseCIDR6(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is6() {
		return netip.Prefix{}, Errorf(CodeInvalidParameterValue, "CIDR block %s is malformed", s)
	}
	return p.Masked(), nil
}

// ParseCIDR reads a prefix of either family, canonicalized.
func ParseCIDR(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, Errorf(CodeInvalidParameterValue, "CIDR block %s is malformed", s)
	}
	return p.Masked(), nil
}

// IsOpenWorld reports whether p is 0.0.0.0/0 or ::/0.
func IsOpenWorld(p netip.Prefix) bool { return p.IsValid() && p.Bits() == 0 }
