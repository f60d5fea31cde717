package dataplane

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// google/nftables (at the pinned version) cannot read back two things that
// Check compares: the verdicts of map elements (its element decoder skips
// NFTA_DATA_VERDICT) and ct timeout policies (its decoder writes every
// object's values into one shared package-level map). These few dumps read
// them straight from nf_tables over netlink.

// Attributes missing from x/sys/unix.
const (
	nftaSetElemKeyEnd = 10 // NFTA_SET_ELEM_KEY_END
	nftaCtTimeoutL4   = 2  // NFTA_CT_TIMEOUT_L4PROTO
	nftaCtTimeoutData = 3  // NFTA_CT_TIMEOUT_DATA
)

// rawConn is a netfilter netlink socket in the table's namespace.
func (t *Table) rawConn() (*netlink.Conn, error) {
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: int(t.ns.Fd())})
	if err != nil {
		return nil, err
	}
	if err := bigBuffers(c); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// dump sends one nf_tables dump request and returns the replies' attributes.
func dump(c *netlink.Conn, msgType uint16, attrs []netlink.Attribute) ([][]byte, error) {
	body, err := netlink.MarshalAttributes(attrs)
	if err != nil {
		return nil, err
	}
	nfgen := []byte{unix.NFPROTO_INET, unix.NFNETLINK_V0, 0, 0}
	msgs, err := c.Execute(netlink.Message{
		Header: netlink.Header{
			Type:  netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | msgType),
			Flags: netlink.Request | netlink.Dump,
		},
		Data: append(nfgen, body...),
	})
	if err != nil {
		return nil, err
	}
	out := make([][]byte, 0, len(msgs))
	for _, m := range msgs {
		if len(m.Data) >= 4 {
			out = append(out, m.Data[4:])
		}
	}
	return out, nil
}

// kernelElems lists the elements of a set as element ids (see element.id),
// leaving out those that time out within checkMargin (expiring.go).
func kernelElems(c *netlink.Conn, set string) ([]string, error) {
	replies, err := dump(c, unix.NFT_MSG_GETSETELEM, []netlink.Attribute{
		{Type: unix.NFTA_SET_ELEM_LIST_TABLE, Data: cstr(TableName)},
		{Type: unix.NFTA_SET_ELEM_LIST_SET, Data: cstr(set)},
	})
	if err != nil {
		return nil, fmt.Errorf("list elements of %s: %w", set, err)
	}
	var ids []string
	for _, r := range replies {
		err := walk(r, func(typ uint16, b []byte) error {
			if typ != unix.NFTA_SET_ELEM_LIST_ELEMENTS {
				return nil
			}
			return walk(b, func(_ uint16, b []byte) error {
				e, left, err := decodeElem(b)
				if left < 0 || left >= checkMargin {
					ids = append(ids, e.hexID())
				}
				return err
			})
		})
		if err != nil {
			return nil, fmt.Errorf("decode elements of %s: %w", set, err)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// decodeElem decodes one element and the time it has left (-1: no
// timeout).
func decodeElem(b []byte) (element, time.Duration, error) {
	var e element
	left := time.Duration(-1)
	err := walk(b, func(typ uint16, b []byte) error {
		switch typ {
		case unix.NFTA_SET_ELEM_EXPIRATION:
			left = time.Duration(binary.BigEndian.Uint64(b)) * time.Millisecond
		case unix.NFTA_SET_ELEM_KEY:
			return walk(b, func(_ uint16, v []byte) error { e.key = v; return nil })
		case nftaSetElemKeyEnd:
			return walk(b, func(_ uint16, v []byte) error { e.end = v; return nil })
		case unix.NFTA_SET_ELEM_DATA:
			return walk(b, func(typ uint16, v []byte) error {
				if typ != unix.NFTA_DATA_VERDICT {
					return nil
				}
				e.verdict = &expr.Verdict{}
				return walk(v, func(typ uint16, v []byte) error {
					switch typ {
					case unix.NFTA_VERDICT_CODE:
						e.verdict.Kind = expr.VerdictKind(int32(binary.BigEndian.Uint32(v)))
					case unix.NFTA_VERDICT_CHAIN:
						e.verdict.Chain = strings.TrimRight(string(v), "\x00")
					}
					return nil
				})
			})
		}
		return nil
	})
	return e, left, err
}

// kernelObjs describes the table's ct timeout objects by name, as
// describeObj does.
func kernelObjs(c *netlink.Conn) (map[string]string, error) {
	replies, err := dump(c, unix.NFT_MSG_GETOBJ, []netlink.Attribute{
		{Type: unix.NFTA_OBJ_TABLE, Data: cstr(TableName)},
	})
	if err != nil {
		return nil, fmt.Errorf("list objects: %w", err)
	}
	out := map[string]string{}
	for _, r := range replies {
		var name string
		var typ uint32
		o := &ctTimeoutObj{values: map[uint16]uint32{}}
		err := walk(r, func(t uint16, b []byte) error {
			switch t {
			case unix.NFTA_OBJ_NAME:
				name = strings.TrimRight(string(b), "\x00")
			case unix.NFTA_OBJ_TYPE:
				typ = binary.BigEndian.Uint32(b)
			case unix.NFTA_OBJ_DATA:
				return decodeCtTimeout(b, o)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("decode object %s: %w", name, err)
		}
		out[name] = fmt.Sprintf("type %d %s", typ, describeObj(o))
	}
	return out, nil
}

func decodeCtTimeout(b []byte, o *ctTimeoutObj) error {
	return walk(b, func(t uint16, b []byte) error {
		switch t {
		case nftaCtTimeoutL4:
			o.proto = b[0]
		case nftaCtTimeoutData:
			return walk(b, func(st uint16, v []byte) error {
				o.values[st-1] = binary.BigEndian.Uint32(v)
				return nil
			})
		}
		return nil
	})
}

// walk calls fn for every attribute in b (nested flags stripped).
func walk(b []byte, fn func(typ uint16, data []byte) error) error {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return err
	}
	for ad.Next() {
		if err := fn(ad.Type(), ad.Bytes()); err != nil {
			return err
		}
	}
	return ad.Err()
}

func cstr(s string) []byte { return append([]byte(s), 0) }
