package lab

import (
	"crypto/sha256"
	"fmt"
	"strings"

	"palisade.dev/palisade/internal/model"
)

// Prefixes of the interface names on the router side: instance-facing
// interfaces start with ENIIfPrefix, host-facing ones with HostIfPrefix.
const (
	ENIIfPrefix  = "e"
	HostIfPrefix = "h"
)

// base32hex digits, lower case: ordered like hex, valid in interface names.
const digits32 = "0123456789abcdefghijklmnopqrstuv"

// RouterIfName returns the name of the router-side interface of the network
// interface eniID (the data plane matches its index, nsexec.IfIndex of the
// name).
//
// Linux interface names hold at most 15 bytes, and an ENI id "eni-" + 17 hex
// digits carries 68 bits, so the first 14 hex digits (56 bits) would let two
// ENIs collide. The name is instead "e" + the 68-bit number in 14 base32hex
// digits (70 bits, the first digit 0–7): 15 bytes, deterministic and
// injective, so no two ENIs ever share a name. The older 8-digit form
// "eni-" + 8 hex maps to "e" + those 8 digits (9 bytes). Anything else (not
// a valid ENI id; the lab refuses those) maps to "e_" + 13 digits of its
// SHA-256, which cannot collide with the two forms above. The alias of the
// interface carries the ENI id in clear for people reading `ip link`.
func RouterIfName(eniID model.ENIID) string {
	hex, ok := strings.CutPrefix(string(eniID), "eni-")
	switch {
	case ok && len(hex) == 17 && isLowerHex(hex):
		return ENIIfPrefix + packHex(hex)
	case ok && len(hex) == 8 && isLowerHex(hex):
		return ENIIfPrefix + hex
	default:
		return ENIIfPrefix + "_" + hashName(string(eniID), 13)
	}
}

// HostIfName returns the name of the router-side interface of the lab host
// name: "h" + 14 base32hex digits (70 bits) of the SHA-256 of the name. Host
// names are free-form, so the name is a hash: collision-resistant, not
// collision-free; the alias carries the host's name in clear.
func HostIfName(name string) string {
	return HostIfPrefix + hashName(name, 14)
}

// packHex renders 17 hex digits (68 bits) as 14 base32hex digits: two
// leading zero bits make 70 = 14×5 bits.
func packHex(hex string) string {
	out := make([]byte, 0, 14)
	acc, n := uint(0), uint(2)
	for i := 0; i < len(hex); i++ {
		acc = acc<<4 | uint(hexValue(hex[i]))
		n += 4
		for n >= 5 {
			n -= 5
			out = append(out, digits32[acc>>n&31])
		}
		acc &= 1<<n - 1
	}
	return string(out)
}

// hashName renders the first n×5 bits of the SHA-256 of s in base32hex.
func hashName(s string, n int) string {
	sum := sha256.Sum256([]byte(s))
	out := make([]byte, n)
	for i := range out {
		bit := i * 5
		v := uint(sum[bit/8])<<8 | uint(sum[bit/8+1])
		out[i] = digits32[v>>(11-bit%8)&31]
	}
	return string(out)
}

func hexValue(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return c - 'a' + 10
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// validID reports whether id is a well-formed ID of kind k, by model's
// grammar (the one the API checks).
func validID[T ~string](k model.Kind, id T) bool {
	_, err := model.ParseID(k, string(id))
	return err == nil
}

// devName is the name of the interface of device index d inside an instance.
func devName(d int) string { return fmt.Sprintf("eth%d", d) }

// maxDevice bounds device indexes (EC2 instances have at most a few dozen).
const maxDevice = 99

// MaxHostNameLen is the longest lab host namespace name: the service names
// a host's namespace "<name>.<account>", a name of up to 64 bytes, '.' and
// a 12-digit account ID.
const MaxHostNameLen = 64 + 1 + 12

// validHostName reports whether name may name a lab host's namespace: 1 to
// MaxHostNameLen bytes of letters, digits, '.', '_' and '-', not "." or
// "..", and not the form of an instance id.
func validHostName(name string) bool {
	if name == "" || len(name) > MaxHostNameLen || name == "." || name == ".." || model.IsInstanceID(name) {
		return false
	}
	return validChars(name)
}

func validChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '.' || c == '_' || c == '-'
		if !ok {
			return false
		}
	}
	return true
}
