package main

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"palisade.dev/palisade/internal/bench"
	"palisade.dev/palisade/internal/client"
	"palisade.dev/palisade/internal/lab"
	"palisade.dev/palisade/internal/model"
)

// Exit statuses of explain and audit.
const (
	exitFindings     = 1 // audit: a finding at or above --fail-on
	exitBadInput     = 2 // bad flags, an unknown resource, or the server refused
	exitDisagreement = 3 // explain --probe: the kernel did not do what the policy says
)

// explainEnd is one end of the flow as explain prints it.
type explainEnd struct {
	Address            string `json:"address" xml:"address"`
	NetworkInterfaceID string `json:"networkInterfaceId,omitempty" xml:"networkInterfaceId"`
	InstanceID         string `json:"instanceId,omitempty" xml:"instanceId"`
	InstanceState      string `json:"instanceState,omitempty" xml:"instanceState"`
	DeviceIndex        *int   `json:"deviceIndex,omitempty" xml:"deviceIndex"`
	LabHost            string `json:"labHost,omitempty" xml:"labHost"`
	LabHostNamespace   string `json:"labHostNamespace,omitempty" xml:"labHostNamespace"`
	VpcID              string `json:"vpcId" xml:"vpcId"`
}

// explainRule is a rule that allows the flow.
type explainRule struct {
	RuleID  string `json:"ruleId" xml:"securityGroupRuleId"`
	GroupID string `json:"groupId" xml:"groupId"`
	Rule    string `json:"rule" xml:"rule"`
}

// explainSide is one side's verdict.
type explainSide struct {
	Outside            bool          `json:"outside" xml:"outside"`
	NetworkInterfaceID string        `json:"networkInterfaceId,omitempty" xml:"networkInterfaceId"`
	Allowed            bool          `json:"allowed" xml:"allowed"`
	Rules              []explainRule `json:"rules" xml:"ruleSet>item"`
	Groups             []string      `json:"groups" xml:"groupSet>item"`
	Tracked            bool          `json:"tracked" xml:"tracked"`
	Reason             string        `json:"reason" xml:"reason"`
}

// explainProbe is what the kernel did with the real first packet.
type explainProbe struct {
	Kernel string `json:"kernel"` // "reached" or "dropped"
	Agrees bool   `json:"agrees"`
}

// explanation is what explain prints (PalisadeExplain's answer, and the
// probe's result).
type explanation struct {
	From     explainEnd    `json:"from" xml:"source"`
	To       explainEnd    `json:"to" xml:"destination"`
	Protocol string        `json:"protocol" xml:"protocol"`
	Port     *int          `json:"port,omitempty" xml:"port"`
	IcmpType *int          `json:"icmpType,omitempty" xml:"icmpType"`
	IcmpCode *int          `json:"icmpCode,omitempty" xml:"icmpCode"`
	Allowed  bool          `json:"allowed" xml:"allowed"`
	UserSees string        `json:"userSees" xml:"userSees"`
	Tracked  bool          `json:"tracked" xml:"tracked"`
	Reason   string        `json:"reason" xml:"reason"`
	Egress   explainSide   `json:"egress" xml:"egress"`
	Ingress  explainSide   `json:"ingress" xml:"ingress"`
	Probe    *explainProbe `json:"probe,omitempty" xml:"-"`
}

// badInput makes cobra's flag errors exit with exitBadInput.
func badInput(cmd *cobra.Command) {
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return exitWith(exitBadInput, err) })
	cmd.Args = func(_ *cobra.Command, args []string) error {
		if len(args) > 0 {
			return exitWith(exitBadInput, fmt.Errorf("unexpected argument %q", args[0]))
		}
		return nil
	}
}

func newExplainCmd() *cobra.Command {
	var flags clientFlags
	var from, to, proto string
	var port, icmpCode int
	var probe bool
	cmd := &cobra.Command{
		Use:   "explain --from X --to Y --port N [--protocol tcp|udp|icmp|icmpv6|NUMBER]",
		Short: "Say what happens to a new connection and which rules decide it",
		Long: `Explain what happens to the first packet of a new flow from X to Y, each an
instance ID (its primary interface), a network interface ID or an IP address
(a lab host's, or any address: a side that is not an interface of yours is
"outside", where no security group applies). Both sides are shown: the
sender's outbound rules and the receiver's inbound rules, with the rules that
allow the flow and their groups, or the groups evaluated of which none does;
whether connection tracking follows the flow; and what the user will see:
"timeout" when a side drops it, "connected or refused" when it reaches the
instance (refused when nothing listens there).

The answer comes from the same compiled policy the data plane enforces.
For icmp and icmpv6, --port is the ICMP type (default: echo request) and
--icmp-code its code.

With --probe (on the lab's machine, as root, while palisade serve
--dataplane lab runs), one real first packet is also sent through the
kernel from X's interface, and what the kernel did is shown beside the
policy's verdict; a disagreement is printed loudly.

Exit status: 0 whatever the verdict; 2 on bad input (an unknown instance,
a malformed address, …); 3 when --probe finds the kernel disagreeing.`,
		Example: `  palisade explain --from 203.0.113.9 --to i-0abc0123456789def --port 22
  palisade explain --from i-0abc0123456789def --to 10.0.1.7 --port 53 --protocol udp --output json
  sudo palisade explain --from 203.0.113.5 --to i-0abc0123456789def --port 22 --probe   # from a lab host`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, format, err := flags.connect(cmd, client.Table)
			if err != nil {
				return exitWith(exitBadInput, err)
			}
			params := url.Values{"Source": {from}, "Destination": {to}, "Protocol": {proto}}
			if cmd.Flags().Changed("port") {
				params.Set("Port", strconv.Itoa(port))
			}
			if cmd.Flags().Changed("icmp-code") {
				params.Set("IcmpCode", strconv.Itoa(icmpCode))
			}
			var e explanation
			if err := c.Call(cmd.Context(), "PalisadeExplain", params, &e); err != nil {
				return exitWith(exitBadInput, err)
			}
			for _, s := range []*explainSide{&e.Egress, &e.Ingress} {
				if s.Rules == nil {
					s.Rules = []explainRule{}
				}
				if s.Groups == nil {
					s.Groups = []string{}
				}
			}
			if probe {
				reached, err := probeKernel(&e)
				if err != nil {
					return exitWith(exitBadInput, fmt.Errorf("--probe: %w", err))
				}
				e.Probe = &explainProbe{Kernel: "dropped", Agrees: reached == e.Allowed}
				if reached {
					e.Probe.Kernel = "reached"
				}
			}
			if format == client.JSON {
				err = client.Print(cmd.OutOrStdout(), format, "Explain", e)
			} else {
				err = printExplanation(cmd.OutOrStdout(), &e)
			}
			if err == nil && e.Probe != nil && !e.Probe.Agrees {
				return &exitError{code: exitDisagreement, err: fmt.Errorf(
					"DISAGREEMENT: the policy says %s, the kernel %s the first packet", verdictWord(e.Allowed), e.Probe.Kernel)}
			}
			return err
		},
	}
	badInput(cmd)
	f := cmd.Flags()
	flags.register(f)
	f.StringVar(&from, "from", "", "the sender: an instance ID, a network interface ID or an IP address")
	f.StringVar(&to, "to", "", "the receiver: an instance ID, a network interface ID or an IP address")
	f.IntVar(&port, "port", 0, "destination port (tcp, udp), or ICMP type (icmp, icmpv6)")
	f.StringVar(&proto, "protocol", "tcp", "tcp, udp, icmp, icmpv6 or a protocol number 0-255")
	f.IntVar(&icmpCode, "icmp-code", 0, "ICMP code (icmp, icmpv6)")
	f.BoolVar(&probe, "probe", false, "also send one real first packet through the lab's kernel (root, lab)")
	cmd.MarkFlagRequired("from")
	cmd.MarkFlagRequired("to")
	return cmd
}

func verdictWord(allowed bool) string {
	if allowed {
		return "it reaches the receiver"
	}
	return "it is dropped"
}

// printExplanation writes the explanation for a person.
func printExplanation(w io.Writer, e *explanation) error {
	var b strings.Builder
	what := e.Protocol
	switch {
	case e.Port != nil:
		what = fmt.Sprintf("%s/%d", e.Protocol, *e.Port)
	case e.IcmpType != nil:
		what = fmt.Sprintf("%s type %d code %d", e.Protocol, *e.IcmpType, *e.IcmpCode)
	}
	fmt.Fprintf(&b, "%s from %s to %s\n", what, endText(e.From), endText(e.To))
	verdict := "ALLOWED"
	if !e.Allowed {
		verdict = "BLOCKED"
	}
	fmt.Fprintf(&b, "verdict:  %s: the user sees %s\n", verdict, e.UserSees)
	sideText(&b, "egress: ", e.Egress)
	sideText(&b, "ingress:", e.Ingress)
	tracked := "yes"
	if !e.Tracked {
		tracked = "no (an untracked flow: cut as soon as no rule allows it)"
	}
	fmt.Fprintf(&b, "tracked:  %s\n", tracked)
	if e.Probe != nil {
		fmt.Fprintf(&b, "kernel:   the first packet %s the receiver", map[bool]string{true: "reached", false: "did not reach"}[e.Probe.Kernel == "reached"])
		if e.Probe.Agrees {
			b.WriteString(" (agrees with the policy)\n")
		} else {
			fmt.Fprintf(&b, "\n\n!!! DISAGREEMENT: the policy says %s, but the kernel %s it. !!!\n", verdictWord(e.Allowed), e.Probe.Kernel)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func endText(e explainEnd) string {
	switch {
	case e.InstanceID != "" && e.InstanceState != string(model.StateRunning):
		return fmt.Sprintf("%s (%s of %s, which is %s: nothing reaches it until it runs)", e.Address, e.NetworkInterfaceID, e.InstanceID, e.InstanceState)
	case e.InstanceID != "":
		return fmt.Sprintf("%s (%s of %s)", e.Address, e.NetworkInterfaceID, e.InstanceID)
	case e.NetworkInterfaceID != "":
		return fmt.Sprintf("%s (%s)", e.Address, e.NetworkInterfaceID)
	case e.LabHost != "":
		return fmt.Sprintf("%s (lab host %s, outside)", e.Address, e.LabHost)
	}
	return e.Address + " (outside)"
}

func sideText(b *strings.Builder, name string, s explainSide) {
	switch {
	case s.Outside:
		fmt.Fprintf(b, "%s  outside: no security group applies\n", name)
	case s.Allowed:
		fmt.Fprintf(b, "%s  allowed on %s by:\n", name, s.NetworkInterfaceID)
		for _, r := range s.Rules {
			fmt.Fprintf(b, "            %s of %s (%s)\n", r.RuleID, r.GroupID, r.Rule)
		}
	default:
		fmt.Fprintf(b, "%s  BLOCKED on %s: %s\n", name, s.NetworkInterfaceID, s.Reason)
		if len(s.Groups) > 0 {
			fmt.Fprintf(b, "            groups evaluated: %s\n", strings.Join(s.Groups, ", "))
		}
	}
}

// probeKernel sends the flow's real first packet through the lab and
// reports whether it reached the receiver's interface.
func probeKernel(e *explanation) (bool, error) {
	if os.Geteuid() != 0 {
		return false, errors.New("sending a packet from a lab namespace needs root: run it with sudo")
	}
	from, err := labEnd(e.From)
	if err != nil {
		return false, err
	}
	to, err := labEnd(e.To)
	if err != nil {
		return false, err
	}
	l, err := lab.New(lab.DefaultConfig())
	if err != nil {
		return false, err
	}
	fp := bench.FirstPacket{From: from, To: to, Router: l.RouterNamespace(model.VpcID(e.From.VpcID)),
		Src: netip.MustParseAddr(e.From.Address), Dst: netip.MustParseAddr(e.To.Address)}
	p, err := model.ParseProtocol(e.Protocol)
	if err != nil {
		return false, err
	}
	fp.Proto, _ = p.Number()
	switch {
	case e.Port != nil:
		fp.Port = uint16(*e.Port)
	case e.IcmpType != nil:
		fp.Port = model.ICMPKey(uint8(*e.IcmpType), uint8(*e.IcmpCode))
	}
	return bench.SendFirstPacket(fp, time.Second)
}

// labEnd finds an end's interface in the lab: a running instance's ethN or
// a lab host's eth0.
func labEnd(e explainEnd) (bench.LabEnd, error) {
	switch {
	case e.InstanceID != "" && e.DeviceIndex != nil:
		if e.InstanceState != string(model.StateRunning) {
			return bench.LabEnd{}, fmt.Errorf("instance %s is %s: only a running instance is in the lab", e.InstanceID, e.InstanceState)
		}
		return bench.LabEnd{NS: e.InstanceID, Dev: fmt.Sprintf("eth%d", *e.DeviceIndex), RouterIf: lab.RouterIfName(model.ENIID(e.NetworkInterfaceID))}, nil
	case e.LabHost != "":
		return bench.LabEnd{NS: e.LabHostNamespace, Dev: "eth0", RouterIf: lab.HostIfName(e.LabHostNamespace)}, nil
	case e.NetworkInterfaceID != "":
		return bench.LabEnd{}, fmt.Errorf("%s is attached to no instance: it is not in the lab", e.NetworkInterfaceID)
	}
	return bench.LabEnd{}, fmt.Errorf("%s is neither an instance nor a lab host: nothing of the lab can send or receive as it", e.Address)
}
