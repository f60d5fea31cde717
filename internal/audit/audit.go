// Package audit finds risky and useless security group rules in a snapshot
// of one account: AWS Security Hub's controls for security groups (EC2.2,
// EC2.13, EC2.14, EC2.18, EC2.19, EC2.22, with their ids and severities)
// and what AWS does not check (PAL.1 a rule shadowed by another rule of
// its group, PAL.2 a rule redundant on every interface it applies to,
// PAL.3 a group with more than 50 rules, PAL.4 a rule that never matched
// a flow since the hit counters began, or not in the last --unused-for).
//
// Like policy, audit is pure: it takes a snapshot and returns findings.
// Each control is one function of the Input (see checks); a control that
// needs more than the configuration, such as "a rule that never matched
// since it was created", adds what it reads to Input (per-rule hit
// counters from the data plane) and one function to checks.
package audit

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/policy"
)

// Severity is a finding's severity, Security Hub's labels in order.
type Severity uint8

// Severities, lowest first.
const (
	Informational Severity = iota + 1
	Low
	Medium
	High
	Critical
)

var severityNames = []string{Informational: "INFORMATIONAL", Low: "LOW", Medium: "MEDIUM", High: "HIGH", Critical: "CRITICAL"}

func (s Severity) String() string {
	if int(s) < len(severityNames) && s > 0 {
		return severityNames[s]
	}
	return "UNKNOWN"
}

// ParseSeverity reads a severity label in any case.
func ParseSeverity(text string) (Severity, error) {
	for s, name := range severityNames {
		if name != "" && strings.EqualFold(text, name) {
			return Severity(s), nil
		}
	}
	return 0, fmt.Errorf("severity %q: must be one of informational, low, medium, high, critical", text)
}

// Finding is one problem: a control that fails for a group, or for one of
// its rules.
type Finding struct {
	Control  string // "EC2.19", "PAL.1", …
	Severity Severity
	Group    model.GroupID
	Rule     model.RuleID // "" when the finding is about the group
	Message  string
}

// Config holds the controls' parameters.
type Config struct {
	// AuthorizedPorts are EC2.18's authorizedTcpPorts: the TCP ports that
	// may be open to the world. Nil means DefaultAuthorizedPorts.
	AuthorizedPorts []model.PortRange
	// MaxRules is PAL.3's threshold (rules of both directions); 0 means 50.
	MaxRules int
	// UnusedFor is PAL.4's window: a rule whose last hit is older is
	// reported; 0 reports only rules never hit.
	UnusedFor time.Duration
}

// DefaultAuthorizedPorts is EC2.18's default: 80 and 443.
var DefaultAuthorizedPorts = []model.PortRange{{From: 80, To: 80}, {From: 443, To: 443}}

// Input is what an audit reads: the account's groups, interfaces and
// prefix lists (as policy compiles them) and the parameters.
type Input struct {
	Snapshot policy.Snapshot
	Config   Config
	// Hits are the rules' hit counters (PAL.4), nil when there are none
	// (the data plane does not count): PAL.4 is then not checked.
	Hits model.GroupHits
	// Now is when the counters were read (PAL.4's "in the last").
	Now time.Time
}

// HighRiskPorts are EC2.19's 24 ports.
var HighRiskPorts = []uint16{20, 21, 22, 23, 25, 110, 135, 143, 445, 1433, 1434, 3000, 3306, 3389,
	4333, 5000, 5432, 5500, 5601, 8080, 8088, 8888, 9200, 9300}

// check is one control (or a few that read the same thing).
type check func(a *auditor) []Finding

var checks = []check{defaultGroupClosed, openToWorld, unusedGroups, shadowedAndRedundant, tooManyRules, unusedRules}

// auditor holds what the checks share.
type auditor struct {
	in       Input
	compiled *policy.Compiled
}

// Run audits the input and returns the findings, most severe first, then
// by control, group and rule.
func Run(in Input) []Finding {
	if in.Config.AuthorizedPorts == nil {
		in.Config.AuthorizedPorts = DefaultAuthorizedPorts
	}
	if in.Config.MaxRules <= 0 {
		in.Config.MaxRules = 50
	}
	a := &auditor{in: in, compiled: policy.Compile(in.Snapshot)}
	var out []Finding
	for _, c := range checks {
		out = append(out, c(a)...)
	}
	slices.SortStableFunc(out, func(x, y Finding) int {
		return cmp.Or(cmp.Compare(y.Severity, x.Severity), cmp.Compare(controlKey(x.Control), controlKey(y.Control)),
			cmp.Compare(x.Group, y.Group), cmp.Compare(x.Rule, y.Rule))
	})
	return out
}

// controlKey sorts EC2 controls before PAL ones and by number ("EC2.2"
// before "EC2.13").
func controlKey(c string) string {
	prefix, num, _ := strings.Cut(c, ".")
	return fmt.Sprintf("%s.%04s", prefix, num)
}

// Worst returns the highest severity of the findings, 0 when there are none.
func Worst(fs []Finding) Severity {
	var w Severity
	for _, f := range fs {
		w = max(w, f.Severity)
	}
	return w
}

// EC2.2: a VPC's default security group should not allow any traffic.
func defaultGroupClosed(a *auditor) []Finding {
	var out []Finding
	for _, g := range a.in.Snapshot.Groups {
		if !g.IsDefault() || len(g.Rules) == 0 {
			continue
		}
		in, eg := len(g.RulesOf(model.Ingress)), len(g.RulesOf(model.Egress))
		out = append(out, Finding{Control: "EC2.2", Severity: High, Group: g.ID,
			Message: fmt.Sprintf("the default security group of %s allows traffic (%d inbound and %d outbound rules): remove them and attach groups of your own", g.VPC, in, eg)})
	}
	return out
}

// EC2.22: security groups attached to no network interface. A VPC's
// default group is exempt, as in AWS Config's rule: it cannot be deleted.
func unusedGroups(a *auditor) []Finding {
	used := map[model.GroupID]bool{}
	for _, e := range a.in.Snapshot.ENIs {
		for _, g := range e.Groups {
			used[g] = true
		}
	}
	var out []Finding
	for _, g := range a.in.Snapshot.Groups {
		if !g.IsDefault() && !used[g.ID] {
			out = append(out, Finding{Control: "EC2.22", Severity: Medium, Group: g.ID,
				Message: fmt.Sprintf("security group %q is attached to no network interface: delete it if it is not needed", g.Name)})
		}
	}
	return out
}

// PAL.3: a group with more rules than a person can review.
func tooManyRules(a *auditor) []Finding {
	var out []Finding
	for _, g := range a.in.Snapshot.Groups {
		if n := len(g.Rules); n > a.in.Config.MaxRules {
			out = append(out, Finding{Control: "PAL.3", Severity: Low, Group: g.ID,
				Message: fmt.Sprintf("security group %q has %d rules, more than %d: split it by purpose or merge rules into prefix lists", g.Name, n, a.in.Config.MaxRules)})
		}
	}
	return out
}
