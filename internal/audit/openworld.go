package audit

import (
	"fmt"
	"strings"

	"palisade.dev/palisade/internal/model"
)

// The controls about inbound rules open to the world (a peer of 0.0.0.0/0
// or ::/0), each finding naming the rule:
//
//   - EC2.13 (high): tcp port 22, by a tcp rule or an all-traffic rule;
//   - EC2.14 (high): tcp port 3389, likewise;
//   - EC2.18 (high): any port that is not authorized: tcp outside
//     Config.AuthorizedPorts, any udp port (AWS's authorizedUdpPorts has no
//     default), all traffic, and protocols without ports other than ICMP;
//   - EC2.19 (critical): any of HighRiskPorts, over tcp, udp or all traffic.
func openToWorld(a *auditor) []Finding {
	var out []Finding
	for _, g := range a.in.Snapshot.Groups {
		for _, r := range g.Rules {
			if r.Direction != model.Ingress || r.Peer.Kind != model.PeerCIDR || !model.IsOpenWorld(r.Peer.Prefix) {
				continue
			}
			out = append(out, worldFindings(a, g.ID, r)...)
		}
	}
	return out
}

func worldFindings(a *auditor, g model.GroupID, r model.Rule) []Finding {
	var out []Finding
	add := func(control string, sev Severity, format string, args ...any) {
		out = append(out, Finding{Control: control, Severity: sev, Group: g, Rule: r.ID,
			Message: ruleText(r) + " " + fmt.Sprintf(format, args...)})
	}
	tcp := r.Protocol.IsAll() || r.Protocol.Is(model.ProtoTCP)
	ported := tcp || r.Protocol.Is(model.ProtoUDP)
	span := r.Span()
	if tcp && span.Contains(22) {
		add("EC2.13", High, "opens SSH (22) to the world")
	}
	if tcp && span.Contains(3389) {
		add("EC2.14", High, "opens RDP (3389) to the world")
	}
	if n, ok := r.Protocol.Number(); !ok || !n.IsICMP() {
		if !r.Protocol.Is(model.ProtoTCP) || !within(span, a.in.Config.AuthorizedPorts) {
			add("EC2.18", High, "opens ports other than the authorized ones (%s) to the world", rangesText(a.in.Config.AuthorizedPorts))
		}
	}
	if ported {
		var risky []string
		for _, p := range HighRiskPorts {
			if span.Contains(p) {
				risky = append(risky, fmt.Sprint(p))
			}
		}
		if len(risky) > 0 {
			add("EC2.19", Critical, "opens high-risk ports to the world: %s", strings.Join(risky, ", "))
		}
	}
	return out
}

// within reports whether every port of span is in one of rs.
func within(span model.PortRange, rs []model.PortRange) bool {
	for p := int(span.From); p <= int(span.To); p++ {
		ok := false
		for _, r := range rs {
			if r.Contains(uint16(p)) {
				ok = true
				p = int(r.To) // skip the rest of r
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func rangesText(rs []model.PortRange) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = r.String()
	}
	return strings.Join(s, ", ")
}

// ruleText renders a rule for a person: "inbound tcp 22 from 0.0.0.0/0".
func ruleText(r model.Rule) string {
	dir, prep := "inbound", "from"
	if r.Direction == model.Egress {
		dir, prep = "outbound", "to"
	}
	what := r.TrafficText()
	return fmt.Sprintf("%s %s %s %s", dir, what, prep, r.Peer)
}
