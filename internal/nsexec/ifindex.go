package nsexec

import "hash/fnv"

// Interface indexes of the router-side interfaces. The lab creates each
// interface it puts in a router namespace (a veth to an instance or a lab
// host, the overlay) with the index IfIndex gives its name, and the data
// plane matches packets by that index (meta iif/oif: four bytes loaded
// from the device, where an interface name is a 16-byte string copied for
// every packet). Both sides compute it from the name alone, so the table
// can be rendered before the interface exists, and an interface made again
// has the same index.
//
// The indexes are a hash of the name into [IfIndexMin, 2^31-1): far above
// the small numbers the kernel hands out itself, in increasing order, to
// the namespace's other devices (its loopback is 1). Two names of one
// namespace may hash alike; the kernel then refuses the second interface
// (its index is taken), and the data plane leaves one of them out, so
// neither can pass for the other.
const IfIndexMin = 1 << 20

// IfIndex returns the index of the router-side interface named name.
func IfIndex(name string) int {
	h := fnv.New64a()
	h.Write([]byte(name))
	return IfIndexMin + int(h.Sum64()%uint64(1<<31-1-IfIndexMin))
}
