package dataplane

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/nsexec"
	"palisade.dev/palisade/internal/policy"
)

// TableName is the name of the table (family inet) Palisade owns in every
// router namespace.
const TableName = "palisade"

// Port is one instance interface (ENI) as the router sees it.
type Port struct {
	ENI    model.ENIID
	IfName string         // router-side interface name, ≤ 15 bytes; the table matches its index (nsexec.IfIndex)
	Policy *policy.Policy // effective policy; its Addrs are the only sources the port may use
}

// Desired is everything one router namespace must enforce. Ports and
// HostIfaces may come in any order; Render and Apply sort them.
type Desired struct {
	Ports []Port
	// HostIfaces are the router-side interfaces of lab hosts ("outside
	// computers"): no security group governs their side of a flow.
	HostIfaces []string
	// Observe adds the observation rules (observe.go): the first packet of
	// every accepted flow and every packet a port chain drops are copied to
	// NFLOG group LogGroup for Observer. Without it the table has none,
	// and costs nothing more.
	Observe bool
}

// Errors of the package; match them with errors.Is.
var (
	// ErrInvalid: a Desired that cannot be rendered (bad or duplicate name,
	// missing policy).
	ErrInvalid = errors.New("invalid desired state")
	// ErrInconsistent: two ports disagree about a group's rules or members
	// (their policies come from different compilations).
	ErrInconsistent = errors.New("inconsistent policies")
)

// maxName bounds the IDs that become chain and set names (nft allows 255
// bytes; the longest suffix is "_out_rp" and a referenced group's index).
const maxName = 200

// validID reports whether id may become part of an nft name: a letter, then
// letters, digits, '-', '_' or '.', so that `nft list` output parses again.
func validID(id string) bool {
	if id == "" || len(id) > maxName || !isLetter(id[0]) {
		return false
	}
	for i := 1; i < len(id); i++ {
		c := id[i]
		if !isLetter(c) && (c < '0' || c > '9') && c != '-' && c != '_' && c != '.' {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// validIfName reports whether s can be a Linux interface name: 1–15 bytes,
// no '/', ':', whitespace, quote or NUL.
func validIfName(s string) bool {
	if s == "" || len(s) > 15 || s == "." || s == ".." {
		return false
	}
	return !strings.ContainsAny(s, "/: \t\n\"\\\x00")
}

// validate checks names and uniqueness, and returns the ports and host
// interfaces sorted, without those left out because the index of their
// interface is another's (clash, sorted).
func validate(d Desired) (ports []Port, hosts []string, clash []string, err error) {
	ports, hosts, err = validNames(d)
	if err != nil {
		return nil, nil, nil, err
	}
	// Interfaces are matched by index (nsexec.IfIndex, a hash of the
	// name). Of names that hash alike, the first in name order keeps the
	// index, the others are left out: none may pass for another.
	names := slices.Clone(hosts)
	for _, p := range ports {
		names = append(names, p.IfName)
	}
	slices.Sort(names)
	owner := map[int]string{}
	left := map[string]bool{}
	for _, n := range names {
		x := nsexec.IfIndex(n)
		if o, ok := owner[x]; ok {
			left[n] = true
			clash = append(clash, n+" (index of "+o+")")
			continue
		}
		owner[x] = n
	}
	if len(left) > 0 {
		ports = slices.DeleteFunc(ports, func(p Port) bool { return left[p.IfName] })
		hosts = slices.DeleteFunc(hosts, func(h string) bool { return left[h] })
	}
	return ports, hosts, clash, nil
}

// validNames checks names and uniqueness, and returns the ports and host
// interfaces sorted.
func validNames(d Desired) ([]Port, []string, error) {
	ports := slices.Clone(d.Ports)
	slices.SortFunc(ports, func(a, b Port) int { return strings.Compare(string(a.ENI), string(b.ENI)) })
	ifs := map[string]string{} // interface name → who uses it
	for i, p := range ports {
		switch {
		case !validID(string(p.ENI)):
			return nil, nil, fmt.Errorf("port %q: bad ENI id: %w", p.ENI, ErrInvalid)
		case i > 0 && ports[i-1].ENI == p.ENI:
			return nil, nil, fmt.Errorf("port %s listed twice: %w", p.ENI, ErrInvalid)
		case !validIfName(p.IfName):
			return nil, nil, fmt.Errorf("port %s: bad interface name %q: %w", p.ENI, p.IfName, ErrInvalid)
		case p.Policy == nil || p.Policy.Ingress == nil || p.Policy.Egress == nil:
			return nil, nil, fmt.Errorf("port %s: no policy: %w", p.ENI, ErrInvalid)
		case ifs[p.IfName] != "":
			return nil, nil, fmt.Errorf("interface %s used by %s and %s: %w", p.IfName, ifs[p.IfName], p.ENI, ErrInvalid)
		}
		ifs[p.IfName] = string(p.ENI)
		for _, g := range p.Policy.Groups {
			if !validID(string(g)) {
				return nil, nil, fmt.Errorf("port %s: bad group id %q: %w", p.ENI, g, ErrInvalid)
			}
		}
	}
	hosts := slices.Clone(d.HostIfaces)
	slices.Sort(hosts)
	for i, h := range hosts {
		switch {
		case !validIfName(h):
			return nil, nil, fmt.Errorf("bad host interface name %q: %w", h, ErrInvalid)
		case i > 0 && hosts[i-1] == h:
			return nil, nil, fmt.Errorf("host interface %s listed twice: %w", h, ErrInvalid)
		case ifs[h] != "":
			return nil, nil, fmt.Errorf("interface %s is both a host and port %s: %w", h, ifs[h], ErrInvalid)
		}
	}
	return ports, hosts, nil
}
