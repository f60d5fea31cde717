package dataplane

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"palisade.dev/palisade/internal/model"
)

// Drops counts the packets that one interface's security groups dropped
// since its port chains were last written.
type Drops struct {
	Ingress uint64 // first packets towards the interface that no ingress rule allows
	Egress  uint64 // first packets from the interface that no egress rule allows
}

// Drops reads, in one dump of the table's rules, the counter on the final
// drop of every port chain: the packets each interface's groups refused.
// The counter runs only on packets being dropped, so it costs nothing on
// allowed traffic. A port chain that is rewritten (its groups changed)
// starts again from zero: callers that need a monotonic count add up the
// increases (a value below the previous one is a restart).
func (t *Table) Drops() (map[model.ENIID]Drops, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	raw, err := t.rawConn()
	if err != nil {
		return nil, err
	}
	defer raw.Close()
	replies, err := dump(raw, unix.NFT_MSG_GETRULE, []netlink.Attribute{
		{Type: unix.NFTA_RULE_TABLE, Data: cstr(TableName)},
	})
	if err != nil {
		return nil, fmt.Errorf("list rules: %w", err)
	}
	out := map[model.ENIID]Drops{}
	for _, r := range replies {
		chain, packets, err := ruleCounter(r)
		if err != nil {
			return nil, fmt.Errorf("decode rule: %w", err)
		}
		eni, d, ok := parsePortChainName(chain)
		if !ok {
			continue
		}
		c := out[eni]
		if d == model.Ingress {
			c.Ingress += packets
		} else {
			c.Egress += packets
		}
		out[eni] = c
	}
	return out, nil
}

// parsePortChainName is portChainName's inverse.
func parsePortChainName(name string) (model.ENIID, model.Direction, bool) {
	base, dir, ok := strings.Cut(name, "_")
	if !ok || !strings.HasPrefix(base, "eni-") {
		return "", 0, false
	}
	switch dir {
	case dirName(model.Ingress):
		return model.ENIID(base), model.Ingress, true
	case dirName(model.Egress):
		return model.ENIID(base), model.Egress, true
	}
	return "", 0, false
}

// ruleCounter returns a dumped rule's chain and the packets of its counter
// expressions (0 when it has none).
func ruleCounter(b []byte) (chain string, packets uint64, err error) {
	err = walk(b, func(typ uint16, data []byte) error {
		switch typ {
		case unix.NFTA_RULE_CHAIN:
			chain = strings.TrimRight(string(data), "\x00")
		case unix.NFTA_RULE_EXPRESSIONS:
			return walk(data, func(_ uint16, elem []byte) error {
				n, err := counterPackets(elem)
				packets += n
				return err
			})
		}
		return nil
	})
	return chain, packets, err
}

// counterPackets returns the packets of one expression if it is a counter.
func counterPackets(elem []byte) (uint64, error) {
	var name string
	var data []byte
	err := walk(elem, func(typ uint16, b []byte) error {
		switch typ {
		case unix.NFTA_EXPR_NAME:
			name = strings.TrimRight(string(b), "\x00")
		case unix.NFTA_EXPR_DATA:
			data = b
		}
		return nil
	})
	if err != nil || name != "counter" {
		return 0, err
	}
	var packets uint64
	err = walk(data, func(typ uint16, b []byte) error {
		if typ == unix.NFTA_COUNTER_PACKETS && len(b) == 8 {
			packets = binary.BigEndian.Uint64(b)
		}
		return nil
	})
	return packets, err
}
