package service

import (
	"context"
	"strconv"

	"palisade.dev/palisade/internal/model"
)

// This file holds what an instance reports about itself beyond its
// network: DescribeInstanceStatus, RebootInstances and the reasons of its
// last state change (docs/aws-semantics.md#instance-status).

// StateReason is an instance's stateReason.
type StateReason struct {
	Code    string // Client.UserInitiatedShutdown, pending
	Message string
}

// userShutdown is the reason of every stop and termination in Palisade:
// they all come from the API.
var userShutdown = StateReason{"Client.UserInitiatedShutdown", "Client.UserInitiatedShutdown: User initiated shutdown"}

// stateReasons returns an instance's StateTransitionReason and StateReason
// as AWS shows them: none while running, "pending" while pending, and a
// user-initiated shutdown, with its time, once stopping or terminating.
func stateReasons(i *model.Instance) (string, *StateReason) {
	switch i.State {
	case model.StatePending:
		return "", &StateReason{"pending", "pending"}
	case model.StateStopping, model.StateStopped, model.StateShuttingDown, model.StateTerminated:
		r := userShutdown
		return "User initiated (" + i.StateChanged.UTC().Format("2006-01-02 15:04:05") + " GMT)", &r
	}
	return "", nil
}

// InstanceStatus is one item of DescribeInstanceStatus. Palisade has no
// hardware to fail: a running instance's checks pass, a pending one's are
// initializing, and the others' do not apply.
type InstanceStatus struct {
	ID     model.InstanceID
	Zone   string
	State  model.InstanceState
	Status string // ok | initializing | not-applicable: both the instance and the system status
	// Reachability is the one check of both statuses: passed | initializing
	// | "" (not-applicable).
	Reachability string
}

func statusOf(r *instanceRecord) InstanceStatus {
	st := InstanceStatus{ID: r.ID, Zone: r.Zone, State: r.State, Status: "not-applicable"}
	switch r.State {
	case model.StateRunning:
		st.Status, st.Reachability = "ok", "passed"
	case model.StatePending:
		st.Status, st.Reachability = "initializing", "initializing"
	}
	return st
}

// DescribeInstanceStatusInput is DescribeInstanceStatus' request.
type DescribeInstanceStatusInput struct {
	IDs        []string
	Filters    []Filter
	Page       Page
	IncludeAll bool // IncludeAllInstances: not only running ones
}

// DescribeInstanceStatus lists the status of running instances (of all
// with IncludeAll) in instance ID order. As in DescribeInstances, IDs and
// MaxResults cannot be combined.
func (s *Service) DescribeInstanceStatus(ctx context.Context, c Caller, in DescribeInstanceStatusInput) ([]InstanceStatus, string, error) {
	if err := checkFilters(in.Filters, statusFields(&InstanceStatus{})); err != nil {
		return nil, "", err
	}
	if len(in.IDs) > 0 && in.Page.MaxResults != 0 {
		return nil, "", model.Errorf(model.CodeInvalidParameterCombination, "The parameter instancesSet cannot be used with the parameter maxResults")
	}
	var out []InstanceStatus
	err := s.read(ctx, c, "DescribeInstanceStatus", func(t *tx) error {
		live, err := t.liveInstances()
		if err != nil {
			return err
		}
		if live, err = selectByID(live, in.IDs, model.KindInstance, func(r instanceRecord) string { return string(r.ID) }); err != nil {
			return err
		}
		for i := range live {
			st := statusOf(&live[i])
			if (in.IncludeAll || st.State == model.StateRunning) && matchFilters(in.Filters, statusFields(&st)) {
				out = append(out, st)
			}
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return paginate(out, func(st InstanceStatus) string { return string(st.ID) }, in.Page)
}

func statusFields(st *InstanceStatus) fieldsFunc {
	return func(name string) ([]string, bool) {
		switch name {
		case "availability-zone":
			return []string{st.Zone}, true
		case "instance-state-name":
			return []string{string(st.State)}, true
		case "instance-state-code":
			return []string{strconv.Itoa(st.State.Code())}, true
		case "instance-status.status", "system-status.status":
			return []string{st.Status}, true
		case "instance-status.reachability", "system-status.reachability":
			return nonEmpty(st.Reachability), true
		case "event.code", "event.description", "event.instance-event-id", "event.not-after", "event.not-before", "event.not-before-deadline":
			return nil, true // Palisade schedules no events
		}
		return nil, false
	}
}

// RebootInstances reboots instances, which changes nothing in Palisade: a
// lab instance keeps its namespace and addresses. Every ID must exist; a
// terminated instance is ignored, as AWS documents, and a stopped one is
// IncorrectInstanceState [decided].
func (s *Service) RebootInstances(ctx context.Context, c Caller, ids []string) error {
	iids, err := parseInstanceIDs(ids)
	if err != nil {
		return err
	}
	return s.read(ctx, c, "RebootInstances", func(t *tx) error {
		recs, err := t.liveInstancesByID(iids)
		if err != nil {
			return err
		}
		for _, r := range recs {
			if r.State == model.StateStopped || r.State == model.StateStopping {
				return model.Errorf(model.CodeIncorrectState, "The instance '%s' is not in a state from which it can be rebooted.", r.ID)
			}
		}
		return nil
	})
}
