package dataplane

import (
	"fmt"
	"sync"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"palisade.dev/palisade/internal/model"
)

// ctTimeoutObj is a "ct timeout" object: the idle timeouts of one protocol's
// conntrack states, in seconds, for the flows a rule assigns it to.
type ctTimeoutObj struct {
	name   string
	proto  uint8
	values map[uint16]uint32 // every state of proto, indexed as expr.CtStateTCP*/UDP*
	text   string            // the policy as nft writes it
}

// linuxTCP are the kernel's default TCP timeouts (nf_conntrack_proto_tcp.c),
// in the order of CTA_TIMEOUT_TCP_*: the states AWS does not configure keep
// them. nft fills an object's unnamed states with the same values.
var linuxTCP = [...]uint32{
	expr.CtStateTCPSYNSENT:     120,
	expr.CtStateTCPSYNRECV:     60,
	expr.CtStateTCPESTABLISHED: 432000,
	expr.CtStateTCPFINWAIT:     120,
	expr.CtStateTCPCLOSEWAIT:   60,
	expr.CtStateTCPLASTACK:     30,
	expr.CtStateTCPTIMEWAIT:    120,
	expr.CtStateTCPCLOSE:       10,
	expr.CtStateTCPSYNSENT2:    120,
	expr.CtStateTCPRETRANS:     300,
	expr.CtStateTCPUNACK:       300,
}

// ctTimeoutObjects returns the objects for an interface's timeouts (zero fields
// take AWS's defaults): TCP established, and UDP (AWS's "UDP" is Linux's
// unreplied timeout, AWS's "UDP stream" Linux's replied one). A protocol
// whose timeouts are AWS's defaults gets no object (nil): the router
// namespace's own conntrack timeouts are AWS's defaults (Open sets them),
// so its flows need none, and assigning one would cost every new flow the
// conntrack extension that carries it.
func ctTimeoutObjects(c model.ConntrackTimeouts) (tcp, udp *ctTimeoutObj) {
	c, def := c.Effective(), model.DefaultConntrackTimeouts
	if c.TCPEstablished != def.TCPEstablished {
		tcp = &ctTimeoutObj{
			name:   fmt.Sprintf("ct_tcp_%d", c.TCPEstablished),
			proto:  unix.IPPROTO_TCP,
			values: map[uint16]uint32{},
			text:   fmt.Sprintf("established: %d", c.TCPEstablished),
		}
		for st, v := range linuxTCP {
			tcp.values[uint16(st)] = v
		}
		tcp.values[expr.CtStateTCPESTABLISHED] = c.TCPEstablished
	}
	if c.UDP != def.UDP || c.UDPStream != def.UDPStream {
		udp = &ctTimeoutObj{
			name:  fmt.Sprintf("ct_udp_%d_%d", c.UDP, c.UDPStream),
			proto: unix.IPPROTO_UDP,
			values: map[uint16]uint32{
				expr.CtStateUDPUNREPLIED: c.UDP,
				expr.CtStateUDPREPLIED:   c.UDPStream,
			},
			text: fmt.Sprintf("unreplied: %d, replied: %d", c.UDP, c.UDPStream),
		}
	}
	return tcp, udp
}

// ctMu serialises the marshalling of ct timeout objects: google/nftables
// (at the pinned version) merges an object's policy into a package-level
// defaults map (expr.CtStateTCPTimeoutDefaults) and marshals that, so two
// objects marshalled at once would race and could swap values. Every
// object carries every state, so serialised marshalling is exact.
var ctMu sync.Mutex

// addCtTimeoutObj queues the object on c.
func addCtTimeoutObj(c *nftables.Conn, t *nftables.Table, o *ctTimeoutObj) {
	ctMu.Lock()
	defer ctMu.Unlock()
	c.AddObj(&nftables.NamedObj{
		Table: t,
		Name:  o.name,
		Type:  nftables.ObjTypeCtTimeout,
		// l3proto inet: the kernel matches only the layer-4 protocol, so one
		// object serves IPv4 and IPv6.
		Obj: &expr.CtTimeout{L3Proto: unix.NFPROTO_INET, L4Proto: o.proto, Policy: o.values},
	})
}
