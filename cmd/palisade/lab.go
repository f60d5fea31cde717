package main

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"palisade.dev/palisade/internal/client"
	"palisade.dev/palisade/internal/lab"
)

// labLockFile is held (flock) by a palisade serve that runs the lab, so that
// `palisade lab down` cannot pull the namespaces from under it.
const labLockFile = "/run/palisade/lab.lock"

func newLabCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lab",
		Short: "Manage the lab: outside hosts, and tearing everything down",
		Long: `In the lab (palisade serve --dataplane lab), every VPC is a router network
namespace, every running instance a network namespace named by its ID, and
lab hosts are "outside computers" that reach a VPC's instances with their
own address as the source.`,
	}
	cmd.AddCommand(newLabHostCmd(), newLabDownCmd(), newLabMachinesCmd())
	return cmd
}

func newLabHostCmd() *cobra.Command {
	var flags clientFlags
	cmd := &cobra.Command{Use: "host", Short: "Add, remove and list outside computers of the lab"}
	flags.register(cmd.PersistentFlags())
	cmd.AddCommand(newLabHostAddCmd(&flags), newLabHostRmCmd(&flags), newLabHostLsCmd(&flags))
	return cmd
}

// labHost is a lab host as the CLI prints it.
type labHost struct {
	Name        string `json:"Name" xml:"name"`
	Namespace   string `json:"Namespace" xml:"namespace"` // for ip netns exec
	VpcID       string `json:"VpcId" xml:"vpcId"`
	IPv4Address string `json:"Ipv4Address" xml:"ipv4Address"`
	IPv6Address string `json:"Ipv6Address,omitempty" xml:"ipv6Address"`
	HostID      string `json:"HostId,omitempty" xml:"hostId"`
}

func newLabHostAddCmd(flags *clientFlags) *cobra.Command {
	var vpc, ip4, ip6, host string
	cmd := &cobra.Command{
		Use:   "add NAME --vpc VPC-ID --ip ADDR [--ip6 ADDR] [--host HOSTNAME]",
		Short: "Add an outside computer: a namespace NAME.ACCOUNT-ID with one address outside the VPC",
		Long: `Add an outside computer NAME (unique in your account) to the lab: a network
namespace with one address outside the VPC, from which you try your rules.
Its namespace is NAME.ACCOUNT-ID (printed as Namespace), so that the hosts of
two accounts never share a namespace. On a cluster it is attached to the
VPC's router on the host HOSTNAME (palisade agent --host); by default on a
host that runs an instance of the VPC, else the least loaded.`,
		Example: `  palisade lab host add office --vpc vpc-0123456789abcdef0 --ip 203.0.113.5
  sudo ip netns exec office.123456789012 ssh 172.31.5.9`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, format, err := flags.connect(cmd, client.JSON)
			if err != nil {
				return err
			}
			params := url.Values{"Name": {args[0]}, "VpcId": {vpc}, "Ipv4Address": {ip4}}
			setIf(params, "Ipv6Address", ip6)
			setIf(params, "Host", host)
			var resp struct {
				Host labHost `xml:"labHost"`
			}
			if err := c.Call(cmd.Context(), "PalisadeCreateLabHost", params, &resp); err != nil {
				return err
			}
			return client.Print(cmd.OutOrStdout(), format, "LabHost", resp.Host)
		},
	}
	cmd.Flags().StringVar(&vpc, "vpc", "", "the VPC whose instances the host reaches")
	cmd.Flags().StringVar(&ip4, "ip", "", "the host's IPv4 address (outside the VPC's CIDR)")
	cmd.Flags().StringVar(&ip6, "ip6", "", "the host's IPv6 address (optional)")
	cmd.Flags().StringVar(&host, "host", "", "the cluster host (palisade agent --host) whose router of the VPC it is attached to; default: a host that runs an instance of the VPC")
	cmd.MarkFlagRequired("vpc")
	cmd.MarkFlagRequired("ip")
	return cmd
}

func newLabHostRmCmd(flags *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "rm NAME",
		Short: "Remove an outside computer",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := flags.connect(cmd, client.JSON)
			if err != nil {
				return err
			}
			return c.Call(cmd.Context(), "PalisadeDeleteLabHost", url.Values{"Name": {args[0]}}, nil)
		},
	}
}

func newLabHostLsCmd(flags *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "ls",
		Short: "List the outside computers of your account (a table; --output json for scripts)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, format, err := flags.connect(cmd, client.Table)
			if err != nil {
				return err
			}
			var resp struct {
				Hosts []labHost `xml:"labHostSet>item"`
			}
			if err := c.Call(cmd.Context(), "PalisadeDescribeLabHosts", nil, &resp); err != nil {
				return err
			}
			if resp.Hosts == nil {
				resp.Hosts = []labHost{}
			}
			return client.Print(cmd.OutOrStdout(), format, "LabHosts", struct {
				LabHosts []labHost `json:"LabHosts"`
			}{resp.Hosts})
		},
	}
}

func newLabDownCmd() *cobra.Command {
	var host string
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Remove every namespace, interface and firewall table the lab made on this machine",
		Long: `Remove every namespace, interface and firewall table that the lab made on this
machine. The store is left alone: the next palisade serve --dataplane lab
builds the lab again from it. Refuses while a palisade serve runs the lab.

With --host, take down instead what the agent of that host made when it ran
inside a namespace (palisade agent --host NAME --host-netns NS); refuses
while that agent runs.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if os.Geteuid() != 0 {
				return errors.New("lab down needs root (it removes network namespaces): run it with sudo")
			}
			cfg := lab.DefaultConfig()
			if host != "" {
				var err error
				if cfg.RouterPrefix, err = hostRouterPrefix(host); err != nil {
					return err
				}
			}
			unlock, err := lockHost(cfg.RouterPrefix)
			if err != nil {
				return err
			}
			defer unlock()
			l, err := lab.New(cfg)
			if err != nil {
				return err
			}
			before, err := l.List()
			if err != nil {
				return err
			}
			if err := l.Down(); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed %d VPC routers, %d instances and %d lab hosts\n",
				len(before.VPCs), len(before.Instances), len(before.Hosts))
			return nil
		},
	}
	cmd.Flags().StringVar(&host, "host", "", "take down the routers and instances of this host's agent (run with --host-netns)")
	return cmd
}

// lockLab takes the lab lock without waiting: it fails, saying why, when a
// palisade serve (or agent) runs the lab. The lock goes with the process.
func lockLab() (unlock func(), err error) { return lockHost(lab.DefaultConfig().RouterPrefix) }

// lockHost takes the lock of the lab whose routers start with prefix:
// serve's and a machine's own agent share labLockFile, hosts that live in
// namespaces of one machine each have their own.
func lockHost(prefix string) (unlock func(), err error) {
	path := labLockFile
	if prefix != lab.DefaultConfig().RouterPrefix {
		path = filepath.Join(filepath.Dir(labLockFile), "lab-"+prefix+"lock")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errors.New("a palisade serve or agent runs this lab on this machine: stop it first")
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

// machinesSwitch is the default switch namespace of `lab machines`.
const machinesSwitch = "palisade-switch"

func newLabMachinesCmd() *cobra.Command {
	ms := lab.Machines{Switch: machinesSwitch, Subnet: netip.MustParsePrefix("192.168.77.0/24")}
	cmd := &cobra.Command{
		Use:   "machines",
		Short: "Stand in for several computers on this one: namespaces joined by a bridge",
		Long: `Make (up) or remove (down) network namespaces that stand for computers on one
network: each is a host's own namespace for palisade agent --host-netns, with
eth0 on a bridge in the switch namespace and the subnet's next address (the
first machine .1, the second .2, …) and its default route there.`,
	}
	cmd.PersistentFlags().StringVar(&ms.Switch, "switch", ms.Switch, "the switch namespace's name")
	subnet := (*prefixValue)(&ms.Subnet)
	cmd.PersistentFlags().Var(subnet, "subnet", "the network the machines' underlay addresses are on")
	up := &cobra.Command{
		Use:   "up NAME...",
		Short: "Make the machines (namespaces NAME...) and their switch",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, names []string) error {
			if os.Geteuid() != 0 {
				return errors.New("lab machines needs root (it makes network namespaces): run it with sudo")
			}
			made, err := ms.Ensure(names)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "%-20s %s\n", "MACHINE", "UNDERLAY")
			for _, m := range made {
				fmt.Fprintf(w, "%-20s %s\n", m.Name, m.Underlay)
			}
			return nil
		},
	}
	down := &cobra.Command{
		Use:   "down NAME...",
		Short: "Remove the machines and their switch",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, names []string) error {
			if os.Geteuid() != 0 {
				return errors.New("lab machines needs root (it removes network namespaces): run it with sudo")
			}
			return ms.Remove(names)
		},
	}
	cmd.AddCommand(up, down)
	return cmd
}
