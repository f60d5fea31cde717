package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"palisade.dev/palisade/internal/client"
)

// flowRecord is one record as flows prints it.
type flowRecord struct {
	Seq         uint64   `json:"-" xml:"seq"`
	InterfaceID string   `json:"interfaceId" xml:"interfaceId"`
	InstanceID  string   `json:"instanceId,omitempty" xml:"instanceId"`
	SrcAddr     string   `json:"srcAddr" xml:"srcAddr"`
	SrcPort     uint16   `json:"srcPort" xml:"srcPort"`
	DstAddr     string   `json:"dstAddr" xml:"dstAddr"`
	DstPort     uint16   `json:"dstPort" xml:"dstPort"`
	Protocol    uint8    `json:"protocol" xml:"protocol"`
	Packets     uint64   `json:"packets" xml:"packets"`
	Bytes       uint64   `json:"bytes" xml:"bytes"`
	Start       int64    `json:"start" xml:"start"`
	End         int64    `json:"end" xml:"end"`
	Direction   string   `json:"flowDirection" xml:"flowDirection"`
	Action      string   `json:"action" xml:"action"`
	RuleIDs     []string `json:"securityGroupRuleIds" xml:"securityGroupRuleIdSet>item"`
	RejectSide  string   `json:"rejectSide,omitempty" xml:"rejectSide"`
	LogStatus   string   `json:"logStatus" xml:"logStatus"`
}

func newFlowsCmd() *cobra.Command {
	var flags clientFlags
	var eni, instance string
	var since time.Duration
	var follow bool
	cmd := &cobra.Command{
		Use:   "flows [--eni ID | --instance ID] [--since DURATION] [--follow] [--output json]",
		Short: "Show the flows of your interfaces live, with the rules that allowed them",
		Long: `Show the flow records the lab data plane keeps of your interfaces: every
flow appears within a second or two of its first packet, and is updated at
the end of each aggregation window (--flow-window of serve) with its packets
and bytes. ACCEPT records name the rules that allowed the flow (the sender's
egress rules, then the receiver's ingress rules); REJECT records say which
side dropped it (egress: the sender's outbound rules; ingress: the
receiver's inbound rules).

Flows are observed in a VPC while a flow log (aws ec2 create-flow-logs)
covers one of its interfaces, or always when serve runs with
--hit-counters. serve keeps the latest 10,000 records per account.

--follow keeps printing records as they come (JSON: one object per line).`,
		Example: `  palisade flows --instance i-0abc…
  palisade flows --eni eni-0abc… --since 5m --output json
  palisade flows --follow`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if eni != "" && instance != "" {
				return exitWith(exitBadInput, fmt.Errorf("--eni and --instance: give one or neither"))
			}
			if since < 0 {
				return exitWith(exitBadInput, fmt.Errorf("--since %s: must not be negative", since))
			}
			c, format, err := flags.connect(cmd, client.Table)
			if err != nil {
				return exitWith(exitBadInput, err)
			}
			params := url.Values{}
			setIf(params, "NetworkInterfaceId", eni)
			setIf(params, "InstanceId", instance)
			if since > 0 {
				params.Set("SinceSeconds", strconv.FormatInt(int64((since+time.Second-1)/time.Second), 10))
			}
			recs, err := fetchFlows(cmd, c, params)
			if err != nil {
				return exitWith(exitBadInput, err)
			}
			if !follow {
				return client.Print(cmd.OutOrStdout(), format, "Flows", struct {
					Flows []flowRecord `json:"flows"`
				}{recs})
			}
			return followFlows(cmd, c, params, format, recs)
		},
	}
	badInput(cmd)
	f := cmd.Flags()
	flags.register(f)
	f.StringVar(&eni, "eni", "", "only this network interface's flows")
	f.StringVar(&instance, "instance", "", "only the flows of this instance's interfaces")
	f.DurationVar(&since, "since", 0, "only records that ended at most this long ago (default: all kept)")
	f.BoolVar(&follow, "follow", false, "keep printing new records")
	return cmd
}

func fetchFlows(cmd *cobra.Command, c *client.Client, params url.Values) ([]flowRecord, error) {
	var resp struct {
		Flows []flowRecord `xml:"flowSet>item"`
	}
	if err := c.Call(cmd.Context(), "PalisadeFlows", params, &resp); err != nil {
		return nil, err
	}
	if resp.Flows == nil {
		resp.Flows = []flowRecord{}
	}
	return resp.Flows, nil
}

// followFlows prints recs and then every newer record, polling twice a
// second, until the command is interrupted.
func followFlows(cmd *cobra.Command, c *client.Client, params url.Values, format client.Format, recs []flowRecord) error {
	out := cmd.OutOrStdout()
	var last uint64
	if format != client.JSON {
		fmt.Fprintln(out, flowHeader)
	}
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, r := range recs {
			last = max(last, r.Seq)
			if err := printFlowLine(out, format, r); err != nil {
				return err
			}
		}
		select {
		case <-cmd.Context().Done():
			return nil
		case <-tick.C:
		}
		params.Set("After", strconv.FormatUint(last, 10))
		params.Del("SinceSeconds")
		var err error
		if recs, err = fetchFlows(cmd, c, params); err != nil {
			return exitWith(exitBadInput, err)
		}
	}
}

const flowHeader = "START     INTERFACE              SOURCE                        DESTINATION                   PROTO  PACKETS  BYTES     ACTION  RULES / SIDE"

func printFlowLine(w io.Writer, format client.Format, r flowRecord) error {
	if format == client.JSON {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	why := strings.Join(r.RuleIDs, ",")
	if r.Action == "REJECT" {
		why = "dropped by " + r.RejectSide
	}
	_, err := fmt.Fprintf(w, "%-9s %-22s %-29s %-29s %-6d %-8d %-9d %-7s %s\n", time.Unix(r.Start, 0).Format("15:04:05"),
		r.InterfaceID, hostPort(r.SrcAddr, r.SrcPort), hostPort(r.DstAddr, r.DstPort), r.Protocol, r.Packets, r.Bytes, r.Action, why)
	return err
}

func hostPort(a string, p uint16) string {
	if strings.Contains(a, ":") {
		return "[" + a + "]:" + strconv.Itoa(int(p))
	}
	return a + ":" + strconv.Itoa(int(p))
}

// ruleHits is one rule with its counters as rules prints it.
type ruleHits struct {
	RuleID   string `json:"ruleId" xml:"securityGroupRuleId"`
	IsEgress bool   `json:"isEgress" xml:"isEgress"`
	Rule     string `json:"rule" xml:"rule"`
	Packets  uint64 `json:"packets" xml:"packets"`
	Bytes    uint64 `json:"bytes" xml:"bytes"`
	LastHit  string `json:"lastHit" xml:"lastHit"`
}

func newRulesCmd() *cobra.Command {
	var flags clientFlags
	var group string
	cmd := &cobra.Command{
		Use:   "rules --group-id sg-… [--output json]",
		Short: "Show a security group's rules with their hit counters",
		Long: `Show every rule of a security group with its hit counters: the packets
and bytes of the flows it allowed (both directions), and the last time it
allowed a first packet, summed over all interfaces and hosts. A flow
allowed by several rules counts for each of them.

The counters run while palisade serve runs with --hit-counters (lab data
plane); lastHit is empty for a rule that never allowed a flow since.`,
		Example: `  palisade rules --group-id sg-0abc…
  palisade rules --group-id sg-0abc… --output json`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if group == "" {
				return exitWith(exitBadInput, fmt.Errorf("--group-id is required"))
			}
			c, format, err := flags.connect(cmd, client.Table)
			if err != nil {
				return exitWith(exitBadInput, err)
			}
			var resp struct {
				Rules []ruleHits `xml:"ruleSet>item"`
			}
			if err := c.Call(cmd.Context(), "PalisadeRuleHits", url.Values{"GroupId": {group}}, &resp); err != nil {
				return exitWith(exitBadInput, err)
			}
			if resp.Rules == nil {
				resp.Rules = []ruleHits{}
			}
			return client.Print(cmd.OutOrStdout(), format, "Rules", struct {
				Rules []ruleHits `json:"rules"`
			}{resp.Rules})
		},
	}
	badInput(cmd)
	f := cmd.Flags()
	flags.register(f)
	f.StringVar(&group, "group-id", "", "the security group")
	return cmd
}
