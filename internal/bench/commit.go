package bench

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"palisade.dev/palisade/internal/agent"
	"palisade.dev/palisade/internal/dataplane"
	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/policy"
	"palisade.dev/palisade/internal/store"
)

// vpcState is one VPC as the agent programs it (agent.ReadInput).
type vpcState struct{ *agent.Input }

// readVPC reads the VPC's input from the store the way the agent does.
func readVPC(ctx context.Context, st store.Store, vpc model.VpcID) (*vpcState, error) {
	in, err := agent.ReadInput(ctx, st, vpc)
	if err != nil {
		return nil, err
	}
	return &vpcState{in}, nil
}

// desired compiles s and renders it the way the agent does.
func (v *vpcState) desired(s policy.Snapshot) dataplane.Desired {
	return v.Desired(policy.Compile(s))
}

// rules counts the rules of the groups attached to the router's
// interfaces.
func (v *vpcState) rules() int {
	attached := map[model.GroupID]bool{}
	for _, e := range v.Snapshot.ENIs {
		if slices.Contains(v.Ports, e.ID) {
			for _, g := range e.Groups {
				attached[g] = true
			}
		}
	}
	n := 0
	for _, g := range v.Snapshot.Groups {
		if attached[g.ID] {
			n += len(g.Rules)
		}
	}
	return n
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
	if err := r.baseLab.EnsureVPC(model.VpcID(scratch)); err != nil {
		return err
	}
	defer r.baseLab.RemoveVPC(model.VpcID(scratch))
	t, err := dataplane.Open(filepath.Join("/run/netns", r.baseLab.RouterNamespace(model.VpcID(scratch))), nil)
	if err != nil {
		return err
	}
	defer t.Close()
	full, err := t.Apply(v.desired(v.Snapshot))
	if err != nil {
		return err
	}
	r.res.FullProgramMs = ms(full.Commit)
	r.res.CompileMs = ms(compileTime(v.Snapshot))
	ghost := model.ENI{Scope: benchScope, ID: model.ENIID("eni-" + randHex(17)), VPC: model.VpcID(r.sc.vpc),
		PrivateIPs: []netip.Addr{netip.MustParseAddr("10.0.15.250")}}
	alone := v.Snapshot
	alone.ENIs = append(slices.Clone(v.Snapshot.ENIs), ghost)
	joined := ghost
	joined.Groups = []model.GroupID{model.GroupID(r.sc.member)}
	if r.res.MemberCommit, r.res.MemberApply, err = r.toggle(t, v, alone, joined); err != nil {
		return err
	}
	probe := slices.IndexFunc(v.Snapshot.ENIs, func(e model.ENI) bool { return e.ID == model.ENIID(r.sc.probe.eni) })
	if probe < 0 {
		return fmt.Errorf("the prober's interface %s is not in the VPC", r.sc.probe.eni)
	}
	in := v.Snapshot.ENIs[probe]
	in.Groups = []model.GroupID{model.GroupID(r.sc.prober), model.GroupID(r.sc.member)}
	r.res.InterfaceJoinCommit, _, err = r.toggle(t, v, v.Snapshot, in)
	return err
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// toggle applies state a with interface changed put in, then a again,
// Samples times, and records each commit and each Apply's whole time
// (rendering and diffing in Go, then the commit). Both states come from
// one policy.Compiler, as in the agent: what the change does not touch is
// the same object in both. The garbage collector runs before each Apply,
// so that its pauses are not counted as the kernel's time.
func (r *dpRun) toggle(t *dataplane.Table, v *vpcState, a policy.Snapshot, changed model.ENI) (commit, apply LatencyReport, err error) {
	c := policy.NewCompiler()
	c.PutSnapshot(a)
	da := v.Desired(c.Compile())
	c.PutENI(&changed)
	db := v.Desired(c.Compile())
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
