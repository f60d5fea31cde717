package service

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"palisade.dev/palisade/internal/hosts"
	"palisade.dev/palisade/internal/model"
)

// Hosts, decided:
//
//   - A host is a machine that runs an agent (package hosts registers it),
//     modelled on an EC2 Dedicated Host. Hosts are the cloud's machines,
//     not an account's: DescribeHosts shows every registered host to every
//     account, and lists on each only the caller's own instances.
//   - Its state is "available" while its agent's liveness key lives and
//     "under-assessment" once it lapsed (AWS's state for a host whose
//     health is in question). Its zone is the caller's region's first
//     zone: hosts carry no zone of their own, and instances of every zone
//     may run on any host.
//   - RunInstances places every instance of a call on one host: the one of
//     Placement.HostId (which must be registered; it may be under
//     assessment: its instances then stay pending until its agent wires
//     them), or else the available host with the fewest instances, the
//     first by name on a tie. With a data plane (WithWiring) and no
//     available host, the launch fails with InsufficientInstanceCapacity;
//     without one and no host, instances have no host.
//   - A lab host (CreateLabHost) is attached to the VPC's router on the
//     host named by its Host, or else on the available host that runs the
//     most of the VPC's instances of the caller, or else on the one
//     placement would pick for an instance.
//   - StartInstances keeps a stopped instance's host if it is available
//     (or was asked for by HostId), else places it again.
//   - The instances of each host are counted in one global index key
//     (hostLoadKey), so that placement reads a key per host, not every
//     account's instances.

// hostLoadKey counts the instances (not terminated) placed on a host,
// across accounts: x/hosts/<host id>/instances. Account IDs are 12 digits,
// so it never meets an account's index prefix.
func hostLoadKey(id model.HostID) string {
	return model.IndexRoot + "hosts/" + string(id) + "/instances"
}

// hostLoad reads how many instances are on host id.
func (t *tx) hostLoad(id model.HostID) (int, error) {
	v, ok, err := t.getIndex(hostLoadKey(id))
	if err != nil || !ok {
		return 0, err
	}
	return strconv.Atoi(string(v))
}

// addHostLoad changes the count of instances on host id ("": none).
func (t *tx) addHostLoad(id model.HostID, d int) error {
	if id == "" || d == 0 {
		return nil
	}
	n, err := t.hostLoad(id)
	if err != nil {
		return err
	}
	if n+d <= 0 {
		t.dropIndex(hostLoadKey(id))
	} else {
		t.setIndex(hostLoadKey(id), []byte(strconv.Itoa(n+d)))
	}
	return nil
}

// insufficientCapacity is RunInstances' error when no host can take an
// instance.
func insufficientCapacity() error {
	return model.Errorf(model.CodeInsufficientInstanceCapacity, "There is no available host to launch the instance on: every host's agent is down or none is registered. Start a palisade agent, or try again later.")
}

// placement picks the host of new instances: explicit (which must be
// registered) or the available host with the fewest instances. It
// returns "" when nothing wires instances and no host is available.
func (t *tx) placement(explicit model.HostID) (model.HostID, error) {
	all, err := hosts.List(t.Tx)
	if err != nil {
		return "", err
	}
	if explicit != "" {
		if !slices.ContainsFunc(all, func(h hosts.Host) bool { return h.ID == explicit }) {
			return "", model.KindHost.NotFound(string(explicit))
		}
		return explicit, nil
	}
	var best model.HostID
	bestLoad := 0
	for _, h := range all { // sorted by name: the first wins a tie
		if !h.Available {
			continue
		}
		n, err := t.hostLoad(h.ID)
		if err != nil {
			return "", err
		}
		if best == "" || n < bestLoad {
			best, bestLoad = h.ID, n
		}
	}
	if best == "" && t.s.wiring {
		return "", insufficientCapacity()
	}
	return best, nil
}

// replace places a stopped instance that is starting again: its host if
// that is available or was asked for, else another available one; with
// none, it stays on its host (pending until that host is back).
func (t *tx) replace(r *instanceRecord) error {
	if r.Host != "" {
		h, ok, err := hosts.ByID(t.Tx, r.Host)
		if err != nil {
			return err
		}
		if r.HostTenancy || ok && h.Available {
			return nil
		}
	}
	id, err := t.placement("")
	if model.CodeOf(err) == model.CodeInsufficientInstanceCapacity && r.Host != "" {
		return nil
	}
	if err != nil || id == r.Host {
		return err
	}
	if err := t.addHostLoad(r.Host, -1); err != nil {
		return err
	}
	r.Host = id
	return t.addHostLoad(id, 1)
}

// HostView is one host as DescribeHosts shows it to a caller.
type HostView struct {
	hosts.Host
	Zone      string
	Instances []HostInstance // the caller's instances on the host
}

// State is the host's DescribeHosts state.
func (v *HostView) State() string {
	if v.Available {
		return "available"
	}
	return "under-assessment"
}

// Tags are the host's tags: its name as Name.
func (v *HostView) Tags() model.Tags { return model.Tags{{Key: "Name", Value: v.Name}} }

// HostInstance is an instance on a host.
type HostInstance struct {
	ID   model.InstanceID
	Type string
}

// DescribeHostsInput is DescribeHosts' request.
type DescribeHostsInput struct {
	IDs     []string // HostId.N
	Filters []Filter
	Page    Page
}

// DescribeHosts lists the registered hosts (see the top of this file).
func (s *Service) DescribeHosts(ctx context.Context, c Caller, in DescribeHostsInput) ([]HostView, string, error) {
	if err := checkFilters(in.Filters, hostFields(&HostView{})); err != nil {
		return nil, "", err
	}
	if len(in.IDs) > 0 && in.Page.MaxResults != 0 {
		return nil, "", model.Errorf(model.CodeInvalidParameterCombination, "The parameter hostSet cannot be used with the parameter maxResults")
	}
	var views []HostView
	err := s.read(ctx, c, "DescribeHosts", func(t *tx) error {
		views = views[:0]
		all, err := hosts.List(t.Tx)
		if err != nil {
			return err
		}
		if all, err = selectByID(all, in.IDs, model.KindHost, func(h hosts.Host) string { return string(h.ID) }); err != nil {
			return err
		}
		mine, err := t.liveInstances()
		if err != nil {
			return err
		}
		for _, h := range all {
			v := HostView{Host: h, Zone: c.Region + zoneSuffixes[0]}
			for _, r := range mine {
				if r.Host == h.ID && r.State != model.StateTerminated {
					v.Instances = append(v.Instances, HostInstance{r.ID, r.InstanceType})
				}
			}
			slices.SortFunc(v.Instances, func(a, b HostInstance) int { return strings.Compare(string(a.ID), string(b.ID)) })
			if matchFilters(in.Filters, hostFields(&v)) {
				views = append(views, v)
			}
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return paginate(views, func(v HostView) string { return string(v.ID) }, in.Page)
}

// hostFields answers DescribeHosts' filters.
func hostFields(v *HostView) fieldsFunc {
	return func(name string) ([]string, bool) {
		switch name {
		case "state":
			return []string{v.State()}, true
		case "availability-zone":
			return []string{v.Zone}, true
		case "auto-placement":
			return []string{"on"}, true
		case "instance-type":
			var out []string
			for _, i := range v.Instances {
				out = append(out, i.Type)
			}
			return out, true
		}
		return tagFields(v.Tags(), name)
	}
}

// labHostPlacement picks the host of a lab host of VPC vpc: the one named
// (which must be registered), else the available host with the most of the
// VPC's instances (the first by name on a tie), else placement's.
func (t *tx) labHostPlacement(name string, vpc model.VpcID) (model.HostID, error) {
	if name != "" {
		h, ok, err := hosts.ByName(t.Tx, name)
		if err != nil {
			return "", err
		}
		if !ok {
			return "", model.Errorf(model.CodeInvalidParameterValue, "No host named '%s' is registered: its agent (palisade agent --host %s) has never run.", name, name)
		}
		return h.ID, nil
	}
	all, err := hosts.List(t.Tx)
	if err != nil {
		return "", err
	}
	mine, err := t.liveInstances()
	if err != nil {
		return "", err
	}
	count := map[model.HostID]int{}
	for _, r := range mine {
		if r.VPC == vpc && r.State != model.StateTerminated {
			count[r.Host]++
		}
	}
	var best model.HostID
	bestN := 0
	for _, h := range all { // sorted by name: the first wins a tie
		if h.Available && count[h.ID] > bestN {
			best, bestN = h.ID, count[h.ID]
		}
	}
	if best != "" {
		return best, nil
	}
	return t.placement("")
}
