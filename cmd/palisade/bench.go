package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"palisade.dev/palisade/internal/bench"
)

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure and cross-check the data plane on this machine (root)",
		Long: `Benchmarks and cross-checks that build their own lab (router prefixes
palbench- and palbase-, never a user's lab), hold the lab lock while they
run (so they refuse to start while palisade serve runs the lab), and remove
everything they made when they end, also on failure or Ctrl-C.`,
	}
	cmd.AddCommand(newBenchDifferentialCmd(), newBenchDataplaneCmd(), newBenchHelperCmd())
	cmd.AddCommand(newBenchClusterCmd())
	return cmd
}

// startBench checks the machine, takes the lab lock and returns the
// command's context, cancelled by SIGINT and SIGTERM so that the command
// cleans up before it exits; done releases both.
func startBench(cmd *cobra.Command) (ctx context.Context, done func(), err error) {
	if runtime.GOOS != "linux" {
		return nil, nil, errors.New("bench needs Linux (network namespaces and nftables)")
	}
	if os.Geteuid() != 0 {
		return nil, nil, errors.New("bench needs root to create network namespaces and firewall tables: run it with sudo")
	}
	unlock, err := lockLab()
	if err != nil {
		return nil, nil, err
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
	return ctx, func() { stop(); unlock() }, nil
}

// benchLogger logs warnings of the lab, agent and control plane to stderr,
// or everything with verbose.
func benchLogger(w io.Writer, verbose bool) *slog.Logger {
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

func newBenchDifferentialCmd() *cobra.Command {
	cfg := bench.DefaultDifferentialConfig()
	var verbose bool
	cmd := &cobra.Command{
		Use:   "differential",
		Short: "Send random flows through the kernel and compare every verdict with policy.Decide",
		Long: `Build a lab (one VPC router with Palisade's nftables table, instances with
several interfaces, two lab hosts), then round after round draw random
groups, rules (tcp, udp, icmp, icmpv6, all, other protocols; ports, ranges,
ICMP types; IPv4 and IPv6 CIDRs around the lab's addresses; group and
prefix-list references) and memberships, apply them, and send random first
packets (TCP SYN, UDP, ICMP queries and errors, other protocols) from packet
sockets with the senders' real addresses (a few spoofed), a thousand in
flight at once. A packet seen at its receiver was allowed, one not seen
within the grace window was dropped; each is compared with the verdict of
policy.Compiled.Path. Prints progress to stderr and the result to stdout;
exits 1 on any mismatch, printing the flow, the policy's reason and the
rules.`,
		Example: `  sudo palisade bench differential
  sudo palisade bench differential --flows 5000 --seed 42`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, done, err := startBench(cmd)
			if err != nil {
				return err
			}
			defer done()
			cfg.Progress = cmd.ErrOrStderr()
			cfg.Logger = benchLogger(cmd.ErrOrStderr(), verbose)
			res, err := bench.RunDifferential(ctx, cfg)
			out := cmd.OutOrStdout()
			for _, m := range res.Mismatches {
				fmt.Fprintln(out, m)
			}
			if res.Flows > 0 {
				fmt.Fprintf(out, "%s\n%s", res.Summary(), res.Coverage())
			}
			if err != nil {
				return err
			}
			if res.MismatchCount > 0 {
				return fmt.Errorf("%d mismatches", res.MismatchCount)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Flows, "flows", cfg.Flows, "flows to send and judge")
	f.Uint64Var(&cfg.Seed, "seed", 0, "seed of the random policies and flows (0: a random one, printed)")
	f.IntVar(&cfg.RoundFlows, "round-flows", cfg.RoundFlows, "flows per random policy")
	f.IntVar(&cfg.Batch, "batch", cfg.Batch, "probes in flight at once")
	f.DurationVar(&cfg.Grace, "grace", cfg.Grace, "how long after a batch's last packet a probe not seen counts as dropped")
	f.BoolVar(&verbose, "verbose", false, "log what the lab and the table do")
	return cmd
}

func newBenchDataplaneCmd() *cobra.Command {
	cfg := bench.DefaultDataplaneConfig()
	var output string
	var verbose bool
	cmd := &cobra.Command{
		Use:   "dataplane",
		Short: "Measure the data plane against a no-firewall baseline, and API-to-enforced latencies",
		Long: `Start a control plane in this process (a bolt store in a temporary
directory, quotas of 1,000 rules per group and 16 groups per interface, the
EC2 API on a loopback port, the agent over its own lab) and create through
the EC2 API: a VPC; 200 instances whose interfaces carry 50 rules each; a
server instance whose interface carries 1,000 rules and a rule letting a
referenced group in; that group's 10,000 members (unattached interfaces);
a client instance in it, a prober outside it, a second server whose
interface carries five groups of 200 CIDR rules besides the server's group,
and a lab host. A baseline of the same two instances is wired the same way
in a VPC without a firewall, and again in one whose only table accepts
(conntrack alone: the floor).

Then measure, with client and server pinned to one CPU and the runs of all
sides interleaved: new TCP connections per second and bulk throughput
(medians of the repeats, as ratios to the baseline, and per repeat over the
floor, with every ratio, their quartiles and extremes), the CPU time the
traffic's tasks spent per connection; the time from an API call returning
to the first connection it allows, for a rule change and a membership
change; and the kernel's commit time of a membership change in a table of
the same content. Prints progress to stderr and a table (or JSON) to
stdout, with the targets and PASS or MISS; a ratio over the floor is
UNSURE when the target lies inside its median's 95% confidence interval
(the run's noise is wider than the gap: raise --repeats).`,
		Example: `  sudo palisade bench dataplane
  sudo palisade bench dataplane --members 1000 --repeats 5 --output json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "table" && output != "json" {
				return fmt.Errorf("--output %q: want table or json", output)
			}
			ctx, done, err := startBench(cmd)
			if err != nil {
				return err
			}
			defer done()
			cfg.Helper = benchHelper
			cfg.Progress = cmd.ErrOrStderr()
			cfg.Logger = benchLogger(cmd.ErrOrStderr(), verbose)
			res, err := bench.RunDataplane(ctx, cfg)
			if err != nil {
				return err
			}
			return printReport(cmd.OutOrStdout(), output, res)
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Interfaces, "interfaces", cfg.Interfaces, "instance interfaces that carry rules")
	f.IntVar(&cfg.RulesPerInterface, "rules", cfg.RulesPerInterface, "rules of each of those interfaces")
	f.IntVar(&cfg.HeavyRules, "heavy-rules", cfg.HeavyRules, "rules of the server's interface (at most 1000)")
	f.IntVar(&cfg.ManyGroups, "many-groups", cfg.ManyGroups, "groups of CIDR rules on the many-groups server's interface, besides the one that allows (at most 15)")
	f.IntVar(&cfg.ManyGroupRules, "many-group-rules", cfg.ManyGroupRules, "CIDR rules of each of those groups (at most 1000)")
	f.IntVar(&cfg.Members, "members", cfg.Members, "members of the referenced group")
	f.IntVar(&cfg.Repeats, "repeats", cfg.Repeats, "interleaved repeats of each traffic run")
	f.DurationVar(&cfg.Duration, "duration", cfg.Duration, "length of each traffic run")
	f.IntVar(&cfg.Workers, "workers", cfg.Workers, "parallel connections of the connection-rate client")
	f.IntVar(&cfg.Samples, "samples", cfg.Samples, "latency samples of each kind")
	f.BoolVar(&cfg.Expiring, "expiring", false, "every rule of the setup expires a day ahead (kernel element timeouts), to measure what they cost")
	f.BoolVar(&cfg.Control, "control", false, "also measure a second conntrack-only router against the floor (an A/A comparison: the run's own noise); each repeat takes a fifth longer")
	f.IntVar(&cfg.CPU, "cpu", cfg.CPU, "CPU to pin the traffic to (-1: the last one)")
	f.StringVarP(&output, "output", "o", "table", "output format: table or json")
	f.BoolVar(&verbose, "verbose", false, "log what the control plane, the agent and the lab do")
	return cmd
}

// benchHelper runs this binary's hidden helper subcommand.
func benchHelper(args ...string) *exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	return exec.Command(exe, append([]string{"bench", "helper", "--"}, args...)...)
}

func newBenchHelperCmd() *cobra.Command {
	return &cobra.Command{
		Use:                "helper",
		Short:              "Traffic helper of bench dataplane (internal)",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 && args[0] == "--" {
				args = args[1:]
			}
			if code := bench.Helper(args, cmd.InOrStdin(), cmd.OutOrStdout()); code != 0 {
				os.Exit(code)
			}
			return nil
		},
	}
}

func newBenchClusterCmd() *cobra.Command {
	cfg := bench.DefaultClusterConfig()
	var output, cpuProfile, heapProfile string
	var verbose bool
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Measure how fast a change reaches every host of a cluster (simulated agents on a real etcd; no root)",
		Long: `Run --hosts simulated hosts in this process against etcd: each is the real
agent (its watch, its mirror of the store, its policy compiler) with a lab
and a firewall that keep nothing in the kernel, registered as its own host
with one instance placed on it. Every instance is in one VPC and in two
groups: app, whose rule lets members in, and members. The agents share
--clients etcd clients.

Then, in --repeats repeats, alternate --changes rule changes in app
(authorize, then revoke) and --changes membership changes (an instance's
interface leaves members, then joins again, through
ModifyNetworkInterfaceAttribute), each made by the service in this process
on the etcd store, and time each from the call returning to every agent
having applied the change's store revision. Prints p50/p99 of each kind,
the etcd members' memory and CPU, and an agent's heap.

Without --etcd-endpoints it starts three etcd members on loopback with the
project's scripts/etcd-cluster (--etcd-script) and removes them at the end;
with them, everything it writes lives under a prefix of its own
(/palisade-bench-…/), deleted at the end.`,
		Example: `  palisade bench cluster --hosts 100
  palisade bench cluster --hosts 1000 --repeats 3 --changes 10 --output json
  palisade bench cluster --hosts 1000 --etcd-endpoints http://127.0.0.1:2379`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "table" && output != "json" {
				return fmt.Errorf("--output %q: want table or json", output)
			}
			for _, ep := range cfg.EtcdEndpoints {
				if !strings.HasPrefix(ep, "http://") && !strings.HasPrefix(ep, "https://") {
					return fmt.Errorf("--etcd-endpoints %q: a URL (http://host:port or https://host:port)", ep)
				}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			cfg.Progress = cmd.ErrOrStderr()
			cfg.Logger = benchLogger(cmd.ErrOrStderr(), verbose)
			for _, p := range []struct {
				path string
				w    *io.Writer
			}{{cpuProfile, &cfg.CPUProfile}, {heapProfile, &cfg.HeapProfile}} {
				if p.path == "" {
					continue
				}
				f, err := os.Create(p.path)
				if err != nil {
					return err
				}
				defer f.Close()
				*p.w = f
			}
			res, err := bench.RunCluster(ctx, cfg)
			if err != nil {
				return err
			}
			return printReport(cmd.OutOrStdout(), output, res)
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Hosts, "hosts", cfg.Hosts, "simulated hosts, one agent and one instance each (at most 1000)")
	f.IntVar(&cfg.Repeats, "repeats", cfg.Repeats, "repeats of the measurement")
	f.IntVar(&cfg.Changes, "changes", cfg.Changes, "rule changes and membership changes in each repeat (each kind)")
	f.IntVar(&cfg.Clients, "clients", cfg.Clients, "etcd clients the agents share")
	f.StringSliceVar(&cfg.EtcdEndpoints, "etcd-endpoints", nil, "comma-separated client URLs of an etcd cluster to use (none: start three members)")
	f.StringVar(&cfg.EtcdScript, "etcd-script", "scripts/etcd-cluster", "the project's script that starts etcd members, when no --etcd-endpoints")
	f.DurationVar(&cfg.Limit, "limit", cfg.Limit, "how long every host may take to apply one change before the run fails")
	f.StringVarP(&output, "output", "o", "table", "output format: table or json")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the measurement to this file (go tool pprof)")
	f.StringVar(&heapProfile, "memprofile", "", "write a heap profile, taken once every agent has started, to this file")
	f.BoolVar(&verbose, "verbose", false, "log what the agents and the service do")
	return cmd
}

// printReport writes a bench's result as --output says: indented JSON, or
// its table.
func printReport(w io.Writer, output string, res interface{ WriteTable(io.Writer) error }) error {
	if output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	return res.WriteTable(w)
}
