package agent

import (
	"log/slog"

	"palisade.dev/palisade/internal/dataplane"
	"palisade.dev/palisade/internal/lab"
	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/policy"
)

// Simulated hosts: the agent's whole watch, mirror and compile path with
// nothing in the kernel, so that one process can run a thousand agents
// (palisade bench cluster). NullLab wires nothing and lists nothing;
// NullFirewall accepts every Apply and keeps nothing.

// NullLab is a Lab that wires nothing: every call succeeds.
type NullLab struct{}

var _ Lab = NullLab{}

func (NullLab) EnsureVPC(model.VpcID) error                  { return nil }
func (NullLab) RemoveVPC(model.VpcID) error                  { return nil }
func (NullLab) RouterNamespace(vpcID model.VpcID) string     { return "null-" + string(vpcID) }
func (NullLab) EnsureOverlay(model.VpcID, lab.Overlay) error { return nil }
func (NullLab) EnsureInstance(lab.Instance) error            { return nil }
func (NullLab) RemoveInstance(model.InstanceID) error        { return nil }
func (NullLab) EnsureHost(lab.Host) error                    { return nil }
func (NullLab) RemoveHost(string) error                      { return nil }
func (NullLab) List() (lab.State, error)                     { return lab.State{}, nil }

// NullFirewall is a Firewall that keeps nothing: Apply and Cut succeed,
// Check never finds drift.
type NullFirewall struct{}

var _ Firewall = NullFirewall{}

func (NullFirewall) Apply(dataplane.Desired) (dataplane.Result, error) {
	return dataplane.Result{}, nil
}

func (NullFirewall) Cut(dataplane.Port, []policy.UntrackedClass, *policy.Policy) (int, error) {
	return 0, nil
}

func (NullFirewall) Check() (bool, error) { return false, nil }

func (NullFirewall) Drops() (map[model.ENIID]dataplane.Drops, error) { return nil, nil }

func (NullFirewall) Close() error { return nil }

// OpenNullFirewall is a Config.OpenFirewall that opens a NullFirewall.
func OpenNullFirewall(string, *slog.Logger) (Firewall, error) { return NullFirewall{}, nil }
