package model

import (
	"net/netip"
	"strconv"
	"unicode/utf8"
)

// AppendJSON appends g as json.Marshal encodes it, byte for byte: the
// stored form of a group, which every rule change writes again whole.
// encoding/json spends most of that in reflection and in the text
// marshalers of protocols and prefixes; this does not. TestGroupJSON holds
// the two equal.
func (g *SecurityGroup) AppendJSON(b []byte) []byte {
	b = append(b, `{"account":`...)
	b = appendJSONString(b, string(g.Account))
	b = append(b, `,"region":`...)
	b = appendJSONString(b, g.Region)
	b = append(b, `,"id":`...)
	b = appendJSONString(b, string(g.ID))
	b = append(b, `,"vpc":`...)
	b = appendJSONString(b, string(g.VPC))
	b = append(b, `,"name":`...)
	b = appendJSONString(b, g.Name)
	b = append(b, `,"description":`...)
	b = appendJSONString(b, g.Description)
	if len(g.Rules) > 0 {
		b = append(b, `,"rules":[`...)
		for i := range g.Rules {
			if i > 0 {
				b = append(b, ',')
			}
			b = g.Rules[i].appendJSON(b)
		}
		b = append(b, ']')
	}
	if len(g.Tags) > 0 {
		b = append(b, `,"tags":`...)
		b = g.Tags.appendJSON(b)
	}
	return append(b, '}')
}

func (r *Rule) appendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, string(r.ID))
	b = append(b, `,"direction":`...)
	b = strconv.AppendUint(b, uint64(r.Direction), 10)
	b = append(b, `,"protocol":`...)
	b = appendJSONString(b, r.Protocol.String())
	if r.Ports != (PortRange{}) {
		b = append(b, `,"ports":{"from":`...)
		b = strconv.AppendUint(b, uint64(r.Ports.From), 10)
		b = append(b, `,"to":`...)
		b = strconv.AppendUint(b, uint64(r.Ports.To), 10)
		b = append(b, '}')
	}
	if r.ICMP != (ICMPFilter{}) {
		b = append(b, `,"icmp":{"type":`...)
		b = strconv.AppendInt(b, int64(r.ICMP.Type), 10)
		b = append(b, `,"code":`...)
		b = strconv.AppendInt(b, int64(r.ICMP.Code), 10)
		b = append(b, '}')
	}
	b = append(b, `,"peer":{"kind":`...)
	b = strconv.AppendUint(b, uint64(r.Peer.Kind), 10)
	if r.Peer.Prefix != (netip.Prefix{}) {
		text, _ := r.Peer.Prefix.MarshalText()
		b = append(b, `,"prefix":`...)
		b = appendJSONString(b, string(text))
	}
	if r.Peer.PrefixList != "" {
		b = append(b, `,"prefixList":`...)
		b = appendJSONString(b, string(r.Peer.PrefixList))
	}
	if r.Peer.Group != "" {
		b = append(b, `,"group":`...)
		b = appendJSONString(b, string(r.Peer.Group))
	}
	if r.Peer.GroupOwner != "" {
		b = append(b, `,"groupOwner":`...)
		b = appendJSONString(b, string(r.Peer.GroupOwner))
	}
	b = append(b, '}')
	if r.Description != "" {
		b = append(b, `,"description":`...)
		b = appendJSONString(b, r.Description)
	}
	if len(r.Tags) > 0 {
		b = append(b, `,"tags":`...)
		b = r.Tags.appendJSON(b)
	}
	return append(b, '}')
}

func (ts Tags) appendJSON(b []byte) []byte {
	b = append(b, '[')
	for i, t := range ts {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"key":`...)
		b = appendJSONString(b, t.Key)
		b = append(b, `,"value":`...)
		b = appendJSONString(b, t.Value)
		b = append(b, '}')
	}
	return append(b, ']')
}

// appendJSONString appends s as encoding/json writes a string: quotes,
// backslashes and control characters escaped, and <, >, &, U+2028 and
// U+2029 too; invalid UTF-8 becomes \ufffd.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
