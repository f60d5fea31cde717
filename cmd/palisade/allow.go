package main

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"palisade.dev/palisade/internal/client"
	"palisade.dev/palisade/internal/model"
)

// allowedRule is what allow prints: the rule it authorized.
type allowedRule struct {
	RuleID    string `json:"securityGroupRuleId"`
	GroupID   string `json:"groupId"`
	Direction string `json:"direction"`
	Protocol  string `json:"protocol"`
	Port      string `json:"port,omitempty"`
	CIDR      string `json:"cidr"`
	ExpiresAt string `json:"expiresAt,omitempty"`
}

func newAllowCmd() *cobra.Command {
	var flags clientFlags
	var group, proto, port, cidr, desc string
	var myIP, egress bool
	var dur time.Duration
	cmd := &cobra.Command{
		Use:   "allow --group-id sg-… --protocol tcp --port 22 (--cidr CIDR | --my-ip) [--for 1h]",
		Short: "Authorize one rule, for a while if you like (access that ends on its own)",
		Long: `Authorize one inbound rule (outbound with --egress) of a security group,
from --cidr or from --my-ip: the address palisade serve sees this request come
from (/32 or /128; behind NAT or a proxy, theirs).

With --for, the rule carries the tag palisade:expires-at (now plus the
duration, rounded up to the second) and ends on its own: serve revokes it
then, and the lab's kernel stops admitting its new flows at that time even
when serve is down. Connections already established live on, as after any
revoke. The same tag can be set with the plain aws CLI (README, "SSH for one
hour").`,
		Example: `  palisade allow --group-id sg-0123456789abcdef0 --protocol tcp --port 22 --my-ip --for 1h
  palisade allow --group-id sg-0123456789abcdef0 --protocol tcp --port 8000-8080 --cidr 192.0.2.0/24 --for 30m`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if myIP == (cidr != "") {
				return exitWith(exitBadInput, errors.New("give exactly one of --cidr and --my-ip"))
			}
			if cmd.Flags().Changed("for") && dur < time.Second {
				return exitWith(exitBadInput, fmt.Errorf("--for %v: must be at least 1s", dur))
			}
			c, format, err := flags.connect(cmd, client.JSON)
			if err != nil {
				return exitWith(exitBadInput, err)
			}
			if myIP {
				var resp struct {
					Address string `xml:"sourceAddress"`
				}
				if err := c.Call(cmd.Context(), "PalisadeGetCallerAddress", nil, &resp); err != nil {
					return exitWith(exitBadInput, err)
				}
				a, err := netip.ParseAddr(resp.Address)
				if err != nil {
					return exitWith(exitBadInput, fmt.Errorf("the server gave no address for --my-ip: %q", resp.Address))
				}
				cidr = netip.PrefixFrom(a, a.BitLen()).String()
			}
			out := allowedRule{GroupID: group, Direction: "ingress", Protocol: proto, Port: port, CIDR: cidr}
			if dur > 0 {
				out.ExpiresAt = time.Now().Add(dur + time.Second - 1).Truncate(time.Second).UTC().Format(time.RFC3339)
			}
			params, err := allowParams(out, desc)
			if err != nil {
				return exitWith(exitBadInput, err)
			}
			action := "AuthorizeSecurityGroupIngress"
			if egress {
				action, out.Direction = "AuthorizeSecurityGroupEgress", "egress"
			}
			var resp struct {
				Rules []struct {
					ID string `xml:"securityGroupRuleId"`
				} `xml:"securityGroupRuleSet>item"`
			}
			if err := c.Call(cmd.Context(), action, params, &resp); err != nil {
				return exitWith(exitBadInput, err)
			}
			if len(resp.Rules) == 1 {
				out.RuleID = resp.Rules[0].ID
			}
			return client.Print(cmd.OutOrStdout(), format, "Rule", out)
		},
	}
	badInput(cmd)
	f := cmd.Flags()
	flags.register(f)
	f.StringVar(&group, "group-id", "", "the security group (sg-…)")
	f.StringVar(&proto, "protocol", "tcp", "tcp, udp, icmp, icmpv6, all, or a protocol number")
	f.StringVar(&port, "port", "", "a port or a range N-M (tcp, udp); for icmp the type, -1 for all")
	f.StringVar(&cidr, "cidr", "", "the peer, an IPv4 or IPv6 CIDR")
	f.BoolVar(&myIP, "my-ip", false, "the peer is the address this request comes from, as the server sees it")
	f.DurationVar(&dur, "for", 0, "how long the rule lasts (1h, 30m, …); without it the rule stays")
	f.BoolVar(&egress, "egress", false, "an outbound rule (the peer is the destination)")
	f.StringVar(&desc, "description", "", "the rule's description")
	cmd.MarkFlagRequired("group-id")
	return cmd
}

// allowParams is the Query form of the rule: one IpPermission with one
// range, and the expiry tag when it has one.
func allowParams(r allowedRule, desc string) (url.Values, error) {
	p := url.Values{"GroupId": {r.GroupID}, "IpPermissions.1.IpProtocol": {r.Protocol}}
	if r.Port != "" {
		from, to, ok := strings.Cut(r.Port, "-")
		if !ok || from == "" { // "22", or "-1" (ICMP: all)
			from, to = r.Port, r.Port
		}
		for _, v := range []string{from, to} {
			if _, err := strconv.Atoi(v); err != nil {
				return nil, fmt.Errorf("--port %q: want a port or a range N-M", r.Port)
			}
		}
		p.Set("IpPermissions.1.FromPort", from)
		p.Set("IpPermissions.1.ToPort", to)
	}
	pfx, err := netip.ParsePrefix(r.CIDR)
	if err != nil {
		return nil, fmt.Errorf("--cidr %q: %w", r.CIDR, err)
	}
	rng := "IpPermissions.1.IpRanges.1."
	key := "CidrIp"
	if pfx.Addr().Is6() {
		rng, key = "IpPermissions.1.Ipv6Ranges.1.", "CidrIpv6"
	}
	p.Set(rng+key, r.CIDR)
	if desc != "" {
		p.Set(rng+"Description", desc)
	}
	if r.ExpiresAt != "" {
		p.Set("TagSpecification.1.ResourceType", "security-group-rule")
		p.Set("TagSpecification.1.Tag.1.Key", model.ExpiresAtTag)
		p.Set("TagSpecification.1.Tag.1.Value", r.ExpiresAt)
	}
	return p, nil
}
