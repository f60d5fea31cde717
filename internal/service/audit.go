package service

import (
	"context"
	"strconv"
	"strings"
	"time"

	"palisade.dev/palisade/internal/audit"
	"palisade.dev/palisade/internal/model"
)

// AuditInput is PalisadeAudit's request as sent.
type AuditInput struct {
	// AuthorizedPorts is EC2.18's list of TCP ports that may be open to
	// the world: ports and ranges ("80,443,8000-8080"); "" keeps AWS's
	// default (80, 443).
	AuthorizedPorts string
	// UnusedFor is PAL.4's window (0: report only rules never hit).
	UnusedFor time.Duration
}

// Audit runs the audit controls over the caller's groups in the region.
func (s *Service) Audit(ctx context.Context, c Caller, in AuditInput) ([]audit.Finding, error) {
	cfg := audit.Config{UnusedFor: in.UnusedFor}
	if in.UnusedFor < 0 {
		return nil, model.Errorf(model.CodeInvalidParameterValue, "UnusedFor must not be negative")
	}
	if in.AuthorizedPorts != "" {
		ports, err := parsePortList(in.AuthorizedPorts)
		if err != nil {
			return nil, err
		}
		cfg.AuthorizedPorts = ports
	}
	var out []audit.Finding
	err := s.read(ctx, c, "Audit", func(t *tx) error {
		snap, err := t.snapshot()
		if err != nil {
			return err
		}
		groups := make([]model.GroupID, len(snap.Groups))
		for i, g := range snap.Groups {
			groups[i] = g.ID
		}
		hits, counted, err := t.hitsOf(c.scope(), groups)
		if err != nil {
			return err
		}
		if !counted && in.UnusedFor == 0 {
			hits = nil // no counters: PAL.4 would call every rule unused
		}
		out = audit.Run(audit.Input{Snapshot: snap, Config: cfg, Hits: hits, Now: s.now()})
		return nil
	})
	return out, err
}

// parsePortList reads "80,443,8000-8080".
func parsePortList(text string) ([]model.PortRange, error) {
	var out []model.PortRange
	for _, item := range strings.Split(text, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(item), "-")
		from, err1 := strconv.ParseUint(lo, 10, 16)
		to, err2 := from, error(nil)
		if isRange {
			to, err2 = strconv.ParseUint(hi, 10, 16)
		}
		if err1 != nil || err2 != nil || to < from {
			return nil, model.Errorf(model.CodeInvalidParameterValue,
				"Invalid value '%s' for AuthorizedPorts: use ports and ranges of 0 to 65535, such as 80,443,8000-8080.", text)
		}
		out = append(out, model.PortRange{From: uint16(from), To: uint16(to)})
	}
	return out, nil
}
