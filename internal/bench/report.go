package bench

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// DataplaneResult is everything `palisade bench dataplane` measured. Its
// JSON form is the command's --output json.
type DataplaneResult struct {
	Kernel     string  `json:"kernel"`
	CPUs       int     `json:"cpus"`
	TrafficCPU int     `json:"traffic_cpu"`
	Repeats    int     `json:"repeats"`
	RunSeconds float64 `json:"run_seconds"` // length of each traffic run
	// LoadBefore and LoadAfter are the machine's load averages (1, 5 and
	// 15 minutes, /proc/loadavg) before and after the traffic runs.
	LoadBefore string `json:"load_before_traffic"`
	LoadAfter  string `json:"load_after_traffic"`

	Setup    SetupReport   `json:"setup"`
	Baseline TrafficReport `json:"baseline"`
	// Floor is the conntrack-only router: what connection tracking alone
	// costs, the floor under any stateful firewall.
	Floor TrafficReport `json:"conntrack_only"`
	// Firewall is Palisade's table towards the heavy server, ManyGroups
	// towards the server whose interface carries many groups.
	Firewall   TrafficReport `json:"firewall"`
	ManyGroups TrafficReport `json:"many_groups"`
	// ConnRatio and BulkRatio are the firewall's medians over the
	// baseline's; FloorConnRatio and FloorBulkRatio the floor's.
	ConnRatio      float64 `json:"conn_ratio"`
	BulkRatio      float64 `json:"bulk_ratio"`
	FloorConnRatio float64 `json:"conntrack_only_conn_ratio"`
	FloorBulkRatio float64 `json:"conntrack_only_bulk_ratio"`
	// ConnOverFloor and ManyGroupsConnOverFloor compare each firewall
	// run's connections/s with the floor's run of the same repeat: what
	// Palisade's rules cost beyond conntrack.
	ConnOverFloor           RatioReport `json:"conn_over_floor"`
	ManyGroupsConnOverFloor RatioReport `json:"many_groups_conn_over_floor"`
	// CPUOverFloor and ManyGroupsCPUOverFloor do the same with the CPU
	// time a connection cost the traffic's tasks (the floor's run over
	// the firewall's, so that it reads as connections per CPU-second
	// over the floor's): unlike connections/s, it leaves out whatever
	// else ran on the traffic's CPU meanwhile.
	CPUOverFloor           RatioReport `json:"conn_per_cpu_over_floor"`
	ManyGroupsCPUOverFloor RatioReport `json:"many_groups_conn_per_cpu_over_floor"`
	// Control, with --control, is a second conntrack-only router built
	// like the floor's, and ControlOverFloor its runs over the floor's of
	// the same repeat: an A/A comparison, nothing changed between the two,
	// so its spread is this run's own noise, the error bar of the ratios
	// over the floor.
	Control          *TrafficReport `json:"conntrack_only_again,omitempty"`
	ControlOverFloor *RatioReport   `json:"conntrack_only_again_over_floor,omitempty"`

	// RuleChange and MemberChange run from an API call returning to the
	// first connection the change allows.
	RuleChange   LatencyReport `json:"rule_change_to_enforced"`
	MemberChange LatencyReport `json:"membership_change_to_enforced"`
	// MemberCommit is the kernel's commit of one member joining or leaving
	// the referenced group; InterfaceJoinCommit that of an instance's
	// interface joining or leaving it (one element plus its own chains).
	MemberCommit        LatencyReport `json:"membership_change_kernel_commit"`
	InterfaceJoinCommit LatencyReport `json:"interface_join_kernel_commit"`
	// MemberApply is the whole dataplane.Table.Apply of a membership
	// change (rendering and diffing in Go, then the commit), and CompileMs
	// policy.Compile of the VPC: the agent's work besides the kernel's.
	MemberApply LatencyReport `json:"membership_change_apply"`
	CompileMs   float64       `json:"compile_ms"`
	// FullProgramMs is the kernel's commit of the whole table in one batch.
	FullProgramMs float64 `json:"full_program_commit_ms"`

	Checks      []Check `json:"checks"`
	WallSeconds float64 `json:"wall_seconds"`
}

// SetupReport describes what was created through the API.
type SetupReport struct {
	Instances         int     `json:"instances"`
	RuleInterfaces    int     `json:"rule_interfaces"`
	RulesPerInterface int     `json:"rules_per_interface"`
	HeavyRules        int     `json:"heavy_interface_rules"`
	ManyGroups        int     `json:"many_groups"`      // groups of the many-groups server's interface, besides the one that allows
	ManyGroupRules    int     `json:"many_group_rules"` // rules of each
	RouterRules       int     `json:"router_rules"`     // rules of all groups on the router's interfaces
	Members           int     `json:"referenced_group_members"`
	Expiring          bool    `json:"expiring_rules"` // every rule carries an expiry (--expiring)
	Seconds           float64 `json:"seconds"`        // creating it, and the agent applying it
}

// TrafficReport holds one side's traffic runs.
type TrafficReport struct {
	ConnPerSec []float64 `json:"conn_per_s"`
	ConnP50us  []float64 `json:"conn_p50_us"`
	ConnErrors int       `json:"conn_errors"`
	// CPUPerConnUs is the CPU time of the client, the server and the
	// traffic CPU's ksoftirqd per connection (µs), run by run; CPUShare
	// that time over the run's length: what the traffic got of its CPU
	// (the rest went to other work, to the hypervisor, or idle).
	CPUPerConnUs []float64 `json:"cpu_us_per_conn"`
	CPUShare     []float64 `json:"cpu_share"`
	BulkGbps     []float64 `json:"bulk_gbit_per_s"`

	MedianConnPerSec   float64 `json:"median_conn_per_s"`
	MedianConnP50us    float64 `json:"median_conn_p50_us"`
	MedianCPUPerConnUs float64 `json:"median_cpu_us_per_conn"`
	MedianBulkGbps     float64 `json:"median_bulk_gbit_per_s"`
}

func (t *TrafficReport) addConn(r connRun) {
	t.ConnPerSec = append(t.ConnPerSec, math.Round(r.rate()))
	t.ConnP50us = append(t.ConnP50us, r.P50us)
	t.CPUPerConnUs = append(t.CPUPerConnUs, math.Round(r.cpuPerConnUs()*100)/100)
	t.CPUShare = append(t.CPUShare, math.Round(r.CPUSeconds/r.Seconds*1000)/1000)
	t.ConnErrors += r.Errors
}

func (t *TrafficReport) addBulk(r bulkRun) {
	t.BulkGbps = append(t.BulkGbps, math.Round(r.gbps()*1000)/1000)
}

func (t *TrafficReport) summarize() {
	t.MedianConnPerSec = median(t.ConnPerSec)
	t.MedianConnP50us = median(t.ConnP50us)
	t.MedianCPUPerConnUs = median(t.CPUPerConnUs)
	t.MedianBulkGbps = median(t.BulkGbps)
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// RatioReport holds the ratios of paired runs (one per repeat), their
// median and their spread: all of them, and the middle half (the first
// and third quartiles). CILow and CIHigh bound the median with at least
// 95% confidence (medianCI); both are 0 with fewer than 6 runs.
type RatioReport struct {
	Runs   []float64 `json:"runs"`
	Median float64   `json:"median"`
	Min    float64   `json:"min"`
	Max    float64   `json:"max"`
	Q1     float64   `json:"q1"`
	Q3     float64   `json:"q3"`
	CILow  float64   `json:"median_ci95_low,omitempty"`
	CIHigh float64   `json:"median_ci95_high,omitempty"`
}

// hasInterval tells whether there were enough runs for an interval.
func (rr RatioReport) hasInterval() bool { return rr.CILow != 0 || rr.CIHigh != 0 }

// judge compares the median with a target it should reach: pass when the
// whole confidence interval reaches it, miss when none of it does, unsure
// when the interval straddles it (the run's noise is wider than the gap:
// more repeats would tell). Without an interval (too few runs) the median
// alone decides.
func (rr RatioReport) judge(target float64) (pass, unsure bool) {
	if !rr.hasInterval() {
		return rr.Median >= target, false
	}
	return rr.CILow >= target, rr.CILow < target && rr.CIHigh >= target
}

// interval renders the median's confidence interval, or says why there
// is none.
func (rr RatioReport) interval() string {
	if !rr.hasInterval() {
		return "no 95% interval: under 6 repeats"
	}
	return fmt.Sprintf("95%% interval of the median %.3f–%.3f", rr.CILow, rr.CIHigh)
}

// pairedRatios divides each of a's runs by b's run of the same repeat.
func pairedRatios(a, b []float64) RatioReport {
	var r RatioReport
	for i := range min(len(a), len(b)) {
		r.Runs = append(r.Runs, ratio(a[i], b[i]))
	}
	if len(r.Runs) > 0 {
		s := slices.Sorted(slices.Values(r.Runs))
		r.Median, r.Min, r.Max = median(s), s[0], s[len(s)-1]
		r.Q1, r.Q3 = math.Round(quantile(s, 0.25)*1000)/1000, math.Round(quantile(s, 0.75)*1000)/1000
		r.CILow, r.CIHigh, _ = medianCI(s)
	}
	return r
}

// medianCI is a confidence interval of at least 95% for the median of
// the population the sorted values s were drawn from, whatever its
// distribution: the order statistics s[k-1] and s[n-k], k the largest
// rank with P(B < k) ≤ 2.5% for B binomial(n, ½), the number of values
// below the true median. With 15 values that is the 4th and the 12th
// (96.5%). ok is false below 6 values, too few for any such interval.
func medianCI(s []float64) (lo, hi float64, ok bool) {
	n := len(s)
	lgFact := func(x int) float64 { v, _ := math.Lgamma(float64(x + 1)); return v }
	k, below := 0, 0.0
	for i := range n {
		below += math.Exp(lgFact(n) - lgFact(i) - lgFact(n-i) - float64(n)*math.Ln2) // P(B = i)
		if below > 0.025 {
			break
		}
		k = i + 1
	}
	if k == 0 {
		return 0, 0, false
	}
	return s[k-1], s[n-k], true
}

// quantile is the q-quantile of the sorted values s, interpolated between
// the two nearest ranks.
func quantile(s []float64, q float64) float64 {
	pos := q * float64(len(s)-1)
	i := int(pos)
	if i+1 >= len(s) {
		return s[len(s)-1]
	}
	return s[i] + (pos-float64(i))*(s[i+1]-s[i])
}

// LatencyReport holds latency samples and their percentiles (nearest
// rank: with 50 samples, p99 is the largest).
type LatencyReport struct {
	SamplesMs []float64 `json:"samples_ms"`
	P50Ms     float64   `json:"p50_ms"`
	P99Ms     float64   `json:"p99_ms"`
	MaxMs     float64   `json:"max_ms"`
}

func (l *LatencyReport) add(d time.Duration) {
	l.SamplesMs = append(l.SamplesMs, float64(d.Microseconds())/1000)
}

func (l *LatencyReport) summarize() {
	s := slices.Sorted(slices.Values(l.SamplesMs))
	if len(s) == 0 {
		return
	}
	rank := func(p float64) float64 { return s[max(0, int(math.Ceil(p*float64(len(s))))-1)] }
	l.P50Ms, l.P99Ms, l.MaxMs = rank(0.50), rank(0.99), s[len(s)-1]
}

// Check is one goal of the issue, with what was measured. Unsure marks a
// check the run cannot decide: its median's confidence interval
// straddles the target (Pass is then false).
type Check struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Target string `json:"target"`
	Pass   bool   `json:"pass"`
	Unsure bool   `json:"unsure,omitempty"`
}

// result is the check's verdict for the table.
func (c Check) result() string {
	if c.Unsure {
		return "UNSURE"
	}
	return passMiss(c.Pass)
}

// Targets of the data plane (docs/dataplane.md#measured-costs).
const (
	targetConnRatio    = 0.88
	targetOverFloor    = 0.97 // connections/s, firewall over conntrack alone
	targetBulkRatio    = 0.90
	targetEnforcedP99  = 50.0 // ms
	targetMemberCommit = 1.0  // ms
)

// Indexes of DataplaneResult.Checks.
const (
	checkConn = iota
	checkOverFloor
	checkManyOverFloor
	checkBulk
	checkRuleP99
	checkMemberP99
	checkMemberCommit
)

// check computes the checks from the measurements.
func (r *DataplaneResult) check() {
	r.ConnRatio = ratio(r.Firewall.MedianConnPerSec, r.Baseline.MedianConnPerSec)
	r.BulkRatio = ratio(r.Firewall.MedianBulkGbps, r.Baseline.MedianBulkGbps)
	r.FloorConnRatio = ratio(r.Floor.MedianConnPerSec, r.Baseline.MedianConnPerSec)
	r.FloorBulkRatio = ratio(r.Floor.MedianBulkGbps, r.Baseline.MedianBulkGbps)
	r.ConnOverFloor = pairedRatios(r.Firewall.ConnPerSec, r.Floor.ConnPerSec)
	r.ManyGroupsConnOverFloor = pairedRatios(r.ManyGroups.ConnPerSec, r.Floor.ConnPerSec)
	r.CPUOverFloor = pairedRatios(r.Floor.CPUPerConnUs, r.Firewall.CPUPerConnUs)
	r.ManyGroupsCPUOverFloor = pairedRatios(r.Floor.CPUPerConnUs, r.ManyGroups.CPUPerConnUs)
	if r.Control != nil {
		rr := pairedRatios(r.Control.ConnPerSec, r.Floor.ConnPerSec)
		r.ControlOverFloor = &rr
	}
	over := func(name string, rr RatioReport) Check {
		pass, unsure := rr.judge(targetOverFloor)
		return Check{Name: name, Value: fmt.Sprintf("%.3f (%s)", rr.Median, rr.interval()), Target: fmt.Sprintf("≥ %.2f", targetOverFloor),
			Pass: pass, Unsure: unsure}
	}
	// In the order of the check* indexes.
	r.Checks = []Check{
		{Name: "new connections/s, firewall / baseline", Value: fmt.Sprintf("%.3f", r.ConnRatio), Target: fmt.Sprintf("≥ %.2f", targetConnRatio), Pass: r.ConnRatio >= targetConnRatio},
		over("new connections/s, firewall / conntrack only", r.ConnOverFloor),
		over("new connections/s, many groups / conntrack only", r.ManyGroupsConnOverFloor),
		{Name: "bulk throughput, firewall / baseline", Value: fmt.Sprintf("%.3f", r.BulkRatio), Target: fmt.Sprintf("≥ %.2f", targetBulkRatio), Pass: r.BulkRatio >= targetBulkRatio},
		{Name: "rule change, API to enforced, p99", Value: fmt.Sprintf("%.1f ms", r.RuleChange.P99Ms), Target: fmt.Sprintf("< %.0f ms", targetEnforcedP99), Pass: r.RuleChange.P99Ms < targetEnforcedP99},
		{Name: "membership change, API to enforced, p99", Value: fmt.Sprintf("%.1f ms", r.MemberChange.P99Ms), Target: fmt.Sprintf("< %.0f ms", targetEnforcedP99), Pass: r.MemberChange.P99Ms < targetEnforcedP99},
		{Name: "membership change, kernel commit, p99", Value: fmt.Sprintf("%.3f ms", r.MemberCommit.P99Ms), Target: fmt.Sprintf("< %.0f ms", targetMemberCommit), Pass: r.MemberCommit.P99Ms < targetMemberCommit},
	}
}

// writeRatioRuns writes the per-repeat ratios of name over the floor.
func writeRatioRuns(w io.Writer, name string, rr RatioReport) {
	fmt.Fprintf(w, "runs, %s / conntrack only: %s (median %.3f, %s, middle half %.3f–%.3f, spread %.3f–%.3f)\n",
		name, joinFloats(rr.Runs, "%.3f"), rr.Median, rr.interval(), rr.Q1, rr.Q3, rr.Min, rr.Max)
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return math.Round(a/b*1000) / 1000
}

func passMiss(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

// WriteTable prints the result for people.
func (r *DataplaneResult) WriteTable(w io.Writer) error {
	s := r.Setup
	fmt.Fprintf(w, "Palisade data-plane benchmark: kernel %s, %d CPUs, traffic pinned to CPU %d, %d interleaved repeats of %v, medians\n",
		r.Kernel, r.CPUs, r.TrafficCPU, r.Repeats, time.Duration(r.RunSeconds*1e9).Round(time.Millisecond))
	fmt.Fprintf(w, "Setup through the EC2 API (%s): %d instances; %d rules on the router: %d interfaces × %d rules, the server's interface with %d rules (raised quota), the many-groups server's with %d groups × %d CIDR rules before the group that allows; a referenced group of %d members\n\n",
		(time.Duration(s.Seconds*1000) * time.Millisecond).Round(time.Second), s.Instances, s.RouterRules, s.RuleInterfaces, s.RulesPerInterface, s.HeavyRules,
		s.ManyGroups, s.ManyGroupRules, s.Members)
	if s.Expiring {
		fmt.Fprintf(w, "Every rule of the setup expires a day ahead (--expiring): kernel element timeouts, sets with the timeout flag\n\n")
	}
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	c := r.Checks
	fmt.Fprintln(tw, "metric\tbaseline\tfirewall\tresult\ttarget\t")
	fmt.Fprintf(tw, "new TCP connections/s\t%.0f\t%.0f\t%.3f×\t≥ %.2f×\t%s\n", r.Baseline.MedianConnPerSec, r.Firewall.MedianConnPerSec,
		r.ConnRatio, targetConnRatio, c[checkConn].result())
	fmt.Fprintf(tw, "  firewall / conntrack only, per repeat\t\t\t%s\t≥ %.2f×\t%s\n", withCI(r.ConnOverFloor), targetOverFloor, c[checkOverFloor].result())
	fmt.Fprintf(tw, "  many groups: connections/s\t\t%.0f\t%.3f×\t\t\n", r.ManyGroups.MedianConnPerSec, ratio(r.ManyGroups.MedianConnPerSec, r.Baseline.MedianConnPerSec))
	fmt.Fprintf(tw, "  many groups / conntrack only, per repeat\t\t\t%s\t≥ %.2f×\t%s\n", withCI(r.ManyGroupsConnOverFloor), targetOverFloor, c[checkManyOverFloor].result())
	fmt.Fprintf(tw, "  conntrack only (the floor)\t\t%.0f\t%.3f×\t\t\n", r.Floor.MedianConnPerSec, r.FloorConnRatio)
	if r.ControlOverFloor != nil {
		fmt.Fprintf(tw, "  A/A control: conntrack only again / conntrack only\t\t\t%s\t(1×)\t\n", withCI(*r.ControlOverFloor))
	}
	fmt.Fprintf(tw, "CPU per connection (traffic's tasks), µs\t%.1f\t%.1f\t\t\t\n", r.Baseline.MedianCPUPerConnUs, r.Firewall.MedianCPUPerConnUs)
	fmt.Fprintf(tw, "  many groups; conntrack only\t\t%.1f; %.1f\t\t\t\n", r.ManyGroups.MedianCPUPerConnUs, r.Floor.MedianCPUPerConnUs)
	fmt.Fprintf(tw, "  connections per CPU-second, firewall / conntrack only, per repeat\t\t\t%.3f×\t(≥ %.2f×)\t\n", r.CPUOverFloor.Median, targetOverFloor)
	fmt.Fprintf(tw, "  the same, many groups / conntrack only, per repeat\t\t\t%.3f×\t(≥ %.2f×)\t\n", r.ManyGroupsCPUOverFloor.Median, targetOverFloor)
	fmt.Fprintf(tw, "bulk TCP throughput, Gbit/s\t%.2f\t%.2f\t%.3f×\t≥ %.2f×\t%s\n", r.Baseline.MedianBulkGbps, r.Firewall.MedianBulkGbps,
		r.BulkRatio, targetBulkRatio, c[checkBulk].result())
	fmt.Fprintf(tw, "  conntrack only: Gbit/s\t\t%.2f\t%.3f×\t\t\n", r.Floor.MedianBulkGbps, r.FloorBulkRatio)
	fmt.Fprintf(tw, "connection setup p50, µs\t%.0f\t%.0f\t\t\t\n", r.Baseline.MedianConnP50us, r.Firewall.MedianConnP50us)
	latencyRow(tw, "rule change → enforced", r.RuleChange, fmt.Sprintf("p99 < %.0f ms", targetEnforcedP99), c[checkRuleP99].Pass)
	latencyRow(tw, "membership change → enforced", r.MemberChange, fmt.Sprintf("p99 < %.0f ms", targetEnforcedP99), c[checkMemberP99].Pass)
	latencyRow(tw, "membership change, kernel commit", r.MemberCommit, fmt.Sprintf("p99 < %.0f ms", targetMemberCommit), c[checkMemberCommit].Pass)
	latencyRow(tw, "interface joins group, kernel commit", r.InterfaceJoinCommit, "", true)
	latencyRow(tw, "membership change, whole Apply", r.MemberApply, "", true)
	fmt.Fprintf(tw, "policy.Compile of the VPC\t\t%.1f ms\t\t\t\n", r.CompileMs)
	fmt.Fprintf(tw, "whole table, kernel commit\t\t%.1f ms\t\t\t\n", r.FullProgramMs)
	if err := tw.Flush(); err != nil {
		return err
	}
	again := ""
	if r.Control != nil {
		again = "; conntrack only again " + joinFloats(r.Control.ConnPerSec, "%.0f")
	}
	fmt.Fprintf(w, "\nruns, connections/s: baseline %s; conntrack only %s; firewall %s; many groups %s%s\n",
		joinFloats(r.Baseline.ConnPerSec, "%.0f"), joinFloats(r.Floor.ConnPerSec, "%.0f"),
		joinFloats(r.Firewall.ConnPerSec, "%.0f"), joinFloats(r.ManyGroups.ConnPerSec, "%.0f"), again)
	for _, x := range []struct {
		name string
		rr   RatioReport
	}{{"firewall", r.ConnOverFloor}, {"many groups", r.ManyGroupsConnOverFloor},
		{"connections per CPU-second, firewall", r.CPUOverFloor}, {"connections per CPU-second, many groups", r.ManyGroupsCPUOverFloor}} {
		writeRatioRuns(w, x.name, x.rr)
	}
	if r.ControlOverFloor != nil {
		writeRatioRuns(w, "control, conntrack only again", *r.ControlOverFloor)
	}
	fmt.Fprintf(w, "runs, CPU µs per connection: baseline %s; conntrack only %s; firewall %s; many groups %s\n",
		joinFloats(r.Baseline.CPUPerConnUs, "%.1f"), joinFloats(r.Floor.CPUPerConnUs, "%.1f"),
		joinFloats(r.Firewall.CPUPerConnUs, "%.1f"), joinFloats(r.ManyGroups.CPUPerConnUs, "%.1f"))
	fmt.Fprintf(w, "runs, share of the traffic CPU the traffic's tasks got: baseline %s; conntrack only %s; firewall %s; many groups %s\n",
		joinFloats(r.Baseline.CPUShare, "%.2f"), joinFloats(r.Floor.CPUShare, "%.2f"),
		joinFloats(r.Firewall.CPUShare, "%.2f"), joinFloats(r.ManyGroups.CPUShare, "%.2f"))
	fmt.Fprintf(w, "load average before the traffic runs %s, after %s\n", r.LoadBefore, r.LoadAfter)
	fmt.Fprintf(w, "runs, Gbit/s: baseline %s; conntrack only %s; firewall %s\n", joinFloats(r.Baseline.BulkGbps, "%.2f"),
		joinFloats(r.Floor.BulkGbps, "%.2f"), joinFloats(r.Firewall.BulkGbps, "%.2f"))
	fmt.Fprintf(w, "latency samples: %d per row (p99 by nearest rank)\n", len(r.RuleChange.SamplesMs))
	met, unsure := 0, 0
	for _, c := range r.Checks {
		switch {
		case c.Pass:
			met++
		case c.Unsure:
			unsure++
		}
	}
	undecided := ""
	if unsure > 0 {
		undecided = fmt.Sprintf(", %d undecided (the target lies inside the 95%% interval: this run's noise is wider than the gap; more --repeats narrow it)", unsure)
	}
	_, err := fmt.Fprintf(w, "%d of %d targets met%s; wall time %s\n", met, len(r.Checks), undecided,
		(time.Duration(r.WallSeconds*1000) * time.Millisecond).Round(time.Second))
	return err
}

// withCI renders a ratio's median with its confidence interval, for the
// table's result column.
func withCI(rr RatioReport) string {
	if !rr.hasInterval() {
		return fmt.Sprintf("%.3f×", rr.Median)
	}
	return fmt.Sprintf("%.3f× (%.3f–%.3f)", rr.Median, rr.CILow, rr.CIHigh)
}

func latencyRow(w io.Writer, name string, l LatencyReport, target string, pass bool) {
	result := ""
	if target != "" {
		result = passMiss(pass)
	}
	fmt.Fprintf(w, "%s\t\tp50 %s ms\tp99 %s ms\t%s\t%s\n", name, msString(l.P50Ms), msString(l.P99Ms), target, result)
}

func msString(ms float64) string {
	if ms < 1 {
		return fmt.Sprintf("%.3f", ms)
	}
	return fmt.Sprintf("%.1f", ms)
}

func joinFloats(xs []float64, format string) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf(format, x)
	}
	return strings.Join(parts, ", ")
}
