package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"palisade.dev/palisade/internal/dataplane"
	"palisade.dev/palisade/internal/lab"
	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/policy"
	"palisade.dev/palisade/internal/store"
)

// vpcState is one VPC as the agent sees it in the store: its policy input,
// the interfaces the router enforces, and its lab hosts.
type vpcState struct {
	snap  policy.Snapshot
	ports []model.ENIID // attached interfaces (every instance of the benchmark runs)
	hosts []string      // router-side interfaces of lab hosts
}

// readVPC reads the VPC's groups, interfaces, prefix lists and lab hosts
// from the store.
func readVPC(ctx context.Context, st store.Store, vpc model.VpcID) (*vpcState, error) {
	page, err := st.List(ctx, model.ResourceRoot, store.ListOptions{})
	if err != nil {
		return nil, err
	}
	v := &vpcState{}
	for _, kv := range page.KVs {
		_, kind, _, ok := model.ParseResourceKey(kv.Key)
		if !ok {
			continue
		}
		if err := v.add(kind, kv.Value, vpc); err != nil {
			return nil, fmt.Errorf("%s: %w", kv.Key, err)
		}
	}
	return v, nil
}

func (v *vpcState) add(kind string, value []byte, vpc model.VpcID) error {
	switch kind {
	case model.KeyGroup:
		var g model.SecurityGroup
		if err := json.Unmarshal(value, &g); err != nil || g.VPC != vpc {
			return err
		}
		v.snap.Groups = append(v.snap.Groups, g)
	case model.KeyENI:
		var e model.ENI
		if err := json.Unmarshal(value, &e); err != nil || e.VPC != vpc {
			return err
		}
		v.snap.ENIs = append(v.snap.ENIs, e)
		if e.Attachment != nil {
			v.ports = append(v.ports, e.ID)
		}
	case model.KeyPrefixList:
		var pl model.PrefixList
		if err := json.Unmarshal(value, &pl); err != nil {
			return err
		}
		v.snap.PrefixLists = append(v.snap.PrefixLists, pl)
	case model.KeyLabHost:
		var h model.LabHost
		if err := json.Unmarshal(value, &h); err != nil || h.VPC != vpc {
			return err
		}
		v.hosts = append(v.hosts, lab.HostIfName(h.Name))
	}
	return nil
}

// desired compiles s the way the agent does.
func (v *vpcState) desired(s policy.Snapshot) dataplane.Desired {
	c := policy.Compile(s)
	d := dataplane.Desired{HostIfaces: v.hosts}
	for _, id := range v.ports {
		d.Ports = append(d.Ports, dataplane.Port{ENI: id, IfName: lab.RouterIfName(string(id)), Policy: c.Policy(id)})
	}
	return d
}

// rules counts the rules of the groups attached to the router's
// interfaces.
func (v *vpcState) rules() int {
	attached := map[model.GroupID]bool{}
	for _, e := range v.snap.ENIs {
		if slices.Contains(v.ports, e.ID) {
			for _, g := range e.Groups {
				attached[g] = true
			}
		}
	}
	n := 0
	for _, g := range v.snap.Groups {
		if attached[g.ID] {
			n += len(g.Rules)
		}
	}
	return n
}

// withGroups returns s with interface id in groups.
func withGroups(s policy.Snapshot, id model.ENIID, groups ...model.GroupID) policy.Snapshot {
	s.ENIs = slices.Clone(s.ENIs)
	for i := range s.ENIs {
		if s.ENIs[i].ID == id {
			s.ENIs[i].Groups = groups
		}
	}
	return s
}

// kernelCommits measures the kernel's time to commit one membership
// change (dataplane.Result.Commit) in a table of the same content as the
// agent's: the benchmark's VPC as stored, applied in a scratch router
// namespace of the baseline's lab (call it with the agent stopped, so that
// nothing else runs). Two kinds, Samples times each way: an unattached
// interface joins the referenced group and leaves it (one set element),
// and the prober's interface does (one element, plus its own chains, which
// now jump to the group's chain too). It also times policy.Compile of the
// VPC and whole Applies: the work the agent does outside the kernel.
func (r *dpRun) kernelCommits(ctx context.Context) error {
	v, err := readVPC(ctx, r.cp.st, model.VpcID(r.sc.vpc))
	if err != nil {
		return err
	}
	scratch := "vpc-" + randHex(17)
	if err := r.baseLab.EnsureVPC(scratch); err != nil {
		return err
	}
	defer r.baseLab.RemoveVPC(scratch)
	t, err := dataplane.Open(filepath.Join("/run/netns", r.baseLab.RouterNamespace(scratch)), nil)
	if err != nil {
		return err
	}
	defer t.Close()
	full, err := t.Apply(v.desired(v.snap))
	if err != nil {
		return err
	}
	r.res.FullProgramMs = ms(full.Commit)
	r.res.CompileMs = ms(compileTime(v.snap))
	ghost := model.ENI{Scope: benchScope, ID: model.ENIID("eni-" + randHex(17)), VPC: model.VpcID(r.sc.vpc),
		PrivateIPs: []netip.Addr{netip.MustParseAddr("10.0.15.250")}}
	alone := v.snap
	alone.ENIs = append(slices.Clone(v.snap.ENIs), ghost)
	joined := withGroups(alone, ghost.ID, model.GroupID(r.sc.member))
	if r.res.MemberCommit, r.res.MemberApply, err = r.toggle(t, v, alone, joined); err != nil {
		return err
	}
	probe := model.ENIID(r.sc.probe.eni)
	in := withGroups(v.snap, probe, model.GroupID(r.sc.prober), model.GroupID(r.sc.member))
	r.res.InterfaceJoinCommit, _, err = r.toggle(t, v, v.snap, in)
	return err
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// toggle applies b then a, Samples times, and records each commit and
// each Apply's whole time (rendering and diffing in Go, then the commit).
// The garbage collector runs before each Apply, so that its pauses are not
// counted as the kernel's time.
func (r *dpRun) toggle(t *dataplane.Table, v *vpcState, a, b policy.Snapshot) (commit, apply LatencyReport, err error) {
	da, db := v.desired(a), v.desired(b)
	if _, err := t.Apply(da); err != nil {
		return commit, apply, err
	}
	for range r.cfg.Samples {
		for _, d := range []dataplane.Desired{db, da} {
			runtime.GC()
			start := time.Now()
			res, err := t.Apply(d)
			if err != nil {
				return commit, apply, err
			}
			apply.add(time.Since(start))
			if res.Full {
				return commit, apply, fmt.Errorf("a membership change rebuilt the whole table")
			}
			commit.add(res.Commit)
		}
	}
	commit.summarize()
	apply.summarize()
	return commit, apply, nil
}

// compileTime is the median time policy.Compile takes for s.
func compileTime(s policy.Snapshot) time.Duration {
	var ds []time.Duration
	for range 5 {
		runtime.GC()
		start := time.Now()
		policy.Compile(s)
		ds = append(ds, time.Since(start))
	}
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// elapsed is a helper for progress lines.
func elapsed(start time.Time) time.Duration { return time.Since(start).Round(time.Millisecond) }
