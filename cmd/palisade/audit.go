package main

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"palisade.dev/palisade/internal/audit"
	"palisade.dev/palisade/internal/client"
)

// finding is one audit finding as audit prints it.
type finding struct {
	Control  string `json:"control" xml:"control"`
	Severity string `json:"severity" xml:"severity"`
	GroupID  string `json:"groupId" xml:"groupId"`
	RuleID   string `json:"ruleId,omitempty" xml:"securityGroupRuleId"`
	Message  string `json:"message" xml:"message"`
}

func newAuditCmd() *cobra.Command {
	var flags clientFlags
	var failOn, authorized, unusedFor string
	cmd := &cobra.Command{
		Use:   "audit [--output json] [--fail-on SEVERITY] [--authorized-ports 80,443]",
		Short: "Find risky and useless security group rules in your account",
		Long: `Audit the security groups of your account (in the region) and list the
findings, each with its control, severity, group, rule (when it is about a
rule) and a message. The controls are AWS Security Hub's for security
groups, with their ids and severities:

  EC2.2   HIGH      a VPC's default security group allows traffic
  EC2.13  HIGH      port 22 open to 0.0.0.0/0 or ::/0
  EC2.14  HIGH      port 3389 open to 0.0.0.0/0 or ::/0
  EC2.18  HIGH      open to the world on a port other than --authorized-ports
                    (tcp; any udp port, all traffic and other protocols but ICMP)
  EC2.19  CRITICAL  open to the world on one of 24 high-risk ports
  EC2.22  MEDIUM    a group attached to no network interface (default groups exempt)

and what AWS does not check:

  PAL.1   LOW       a rule shadowed by another rule of the same group
  PAL.2   LOW       a rule redundant on every interface it applies to
  PAL.3   LOW       a group with more than 50 rules
  PAL.4   LOW       a rule that never matched a flow since the hit counters
                    began, or none in the last --unused-for (needs serve
                    --hit-counters; without counters PAL.4 is not checked
                    unless --unused-for is given)

Exit status: 0 when no finding is at or above --fail-on, 1 otherwise, 2 on
errors.`,
		Example: `  palisade audit
  palisade audit --fail-on high --authorized-ports 80,443,8443 --output json
  palisade audit --unused-for 30d`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			threshold, err := audit.ParseSeverity(failOn)
			if err != nil {
				return exitWith(exitBadInput, fmt.Errorf("--fail-on: %w", err))
			}
			c, format, err := flags.connect(cmd, client.Table)
			if err != nil {
				return exitWith(exitBadInput, err)
			}
			params := url.Values{}
			setIf(params, "AuthorizedPorts", authorized)
			if unusedFor != "" {
				d, err := parseDays(unusedFor)
				if err != nil || d <= 0 || d > maxUnusedFor {
					return exitWith(exitBadInput, fmt.Errorf("--unused-for %q: a duration such as 30d or 12h, at most 10 years", unusedFor))
				}
				params.Set("UnusedForSeconds", strconv.FormatInt(int64(d/time.Second), 10))
			}
			var resp struct {
				Findings []finding `xml:"findingSet>item"`
			}
			if err := c.Call(cmd.Context(), "PalisadeAudit", params, &resp); err != nil {
				return exitWith(exitBadInput, err)
			}
			if resp.Findings == nil {
				resp.Findings = []finding{}
			}
			if err := client.Print(cmd.OutOrStdout(), format, "Findings", struct {
				Findings []finding `json:"findings"`
			}{resp.Findings}); err != nil {
				return exitWith(exitBadInput, err)
			}
			for _, f := range resp.Findings {
				if s, err := audit.ParseSeverity(f.Severity); err == nil && s >= threshold {
					return &exitError{code: exitFindings}
				}
			}
			return nil
		},
	}
	badInput(cmd)
	f := cmd.Flags()
	flags.register(f)
	f.StringVar(&failOn, "fail-on", "critical", "exit 1 when a finding is at least this severe: informational, low, medium, high or critical")
	f.StringVar(&authorized, "authorized-ports", "", "tcp ports that may be open to the world, EC2.18's authorizedTcpPorts (default 80,443)")
	f.StringVar(&unusedFor, "unused-for", "", "PAL.4: also report rules not hit in this long, such as 30d or 12h (hit counters)")
	return cmd
}

// maxUnusedFor bounds --unused-for (the API takes seconds as a 32-bit
// number).
const maxUnusedFor = 10 * 365 * 24 * time.Hour

// parseDays reads a Go duration, or a number of days ("30d").
func parseDays(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.ParseFloat(n, 64)
		if err != nil {
			return 0, err
		}
		return time.Duration(days * 24 * float64(time.Hour)), nil
	}
	return time.ParseDuration(s)
}
