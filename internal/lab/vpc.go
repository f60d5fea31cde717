package lab

import (
	"fmt"

	"palisade.dev/palisade/internal/model"
)

// EnsureVPC makes the router namespace of vpcID: lo up, forwarding on for
// IPv4 and IPv6 (in that namespace only).
func (l *Lab) EnsureVPC(vpcID model.VpcID) error {
	if !validID(model.KindVPC, vpcID) {
		return fmt.Errorf("vpc id %q: %w", vpcID, ErrInvalid)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	name := l.RouterNamespace(vpcID)
	s, err := l.claim(name, marker{role: roleRouter, vpc: vpcID, router: name})
	if err != nil {
		return fmt.Errorf("ensure vpc %s: %w", vpcID, err)
	}
	defer s.Close()
	if err := setSysctls(s, routerSysctls...); err != nil {
		return fmt.Errorf("ensure vpc %s: %w", vpcID, err)
	}
	return nil
}

// RemoveVPC removes the VPC's instances, its lab hosts and its router.
func (l *Lab) RemoveVPC(vpcID model.VpcID) error {
	if !validID(model.KindVPC, vpcID) {
		return fmt.Errorf("vpc id %q: %w", vpcID, ErrInvalid)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	st, err := l.list()
	if err != nil {
		return fmt.Errorf("remove vpc %s: %w", vpcID, err)
	}
	if err := l.removeMembers(st, vpcID); err != nil {
		return fmt.Errorf("remove vpc %s: %w", vpcID, err)
	}
	if err := l.removeRouter(vpcID); err != nil {
		return fmt.Errorf("remove vpc %s: %w", vpcID, err)
	}
	return nil
}

// removeMembers removes the instances and hosts of st that are in vpcID.
func (l *Lab) removeMembers(st State, vpcID model.VpcID) error {
	for _, inst := range st.Instances {
		if inst.VPC == vpcID {
			if err := l.release(string(inst.ID), roleInstance); err != nil {
				return err
			}
		}
	}
	for _, h := range st.Hosts {
		if h.VPC == vpcID {
			if err := l.release(h.Name, roleHost); err != nil {
				return err
			}
		}
	}
	return nil
}

// removeRouter deletes the lab's veth ends in the router namespace of vpcID
// (so that peers left behind lose them at once), then the namespace.
func (l *Lab) removeRouter(vpcID model.VpcID) error {
	name := l.RouterNamespace(vpcID)
	m, found, err := namespaceMarker(name)
	if err != nil || !found {
		return err
	}
	if m.role != roleRouter || !l.ours(m) {
		return fmt.Errorf("namespace %s is marked %q, not a router of this lab: %w", name, m, ErrConflict)
	}
	if err := l.flushRouter(name); err != nil {
		return err
	}
	if err := l.deleteNamespace(name); err != nil {
		return err
	}
	l.log.Info("namespace deleted", "ns", name, "role", roleRouter)
	return nil
}

// flushRouter deletes every marked veth end in the router namespace name.
func (l *Lab) flushRouter(name string) error {
	s, err := openSpace(name)
	if err != nil {
		return err
	}
	defer s.Close()
	links, err := dump(s.h.LinkList)
	if err != nil {
		return fmt.Errorf("list links of %s: %w", name, err)
	}
	for _, k := range links {
		if _, ok := linkMarker(k); ok && k.Attrs().Name != "lo" {
			if err := delLink(s.h, k); err != nil {
				return err
			}
		}
	}
	return nil
}
