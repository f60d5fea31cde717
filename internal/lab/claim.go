package lab

import (
	"errors"
	"fmt"
	"strings"
)

// claim opens the named namespace for the role in want, creating it when
// missing and adopting it when it already carries want's marker (or is an
// unmarked, empty leftover of an interrupted creation). It brings lo up.
func (l *Lab) claim(name string, want marker) (*space, error) {
	s, err := openSpace(name)
	if errors.Is(err, errNoNamespace) {
		if err := createNamespace(name); err != nil {
			return nil, err
		}
		l.log.Info("namespace created", "ns", name, "role", want.role)
		s, err = openSpace(name)
	}
	if err != nil {
		return nil, err
	}
	if err := l.adopt(s, want); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// adopt marks s as want says, after checking that s is free to take.
func (l *Lab) adopt(s *space, want marker) error {
	lo, err := s.h.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("find lo in %s: %w", s.name, err)
	}
	have, marked := linkMarker(lo)
	if marked && have != want {
		return fmt.Errorf("namespace %s is marked %q, want %q: %w", s.name, have, want, ErrConflict)
	}
	if !marked {
		if err := requireVacant(s); err != nil {
			return err
		}
	}
	return prepareLink(s.h, lo, want.String(), 0)
}

// requireVacant fails unless s holds nothing but lo: an unmarked namespace
// with interfaces belongs to someone else.
func requireVacant(s *space) error {
	links, err := dump(s.h.LinkList)
	if err != nil {
		return fmt.Errorf("list links of %s: %w", s.name, err)
	}
	for _, k := range links {
		if k.Attrs().Name != "lo" {
			return fmt.Errorf("namespace %s exists with interface %s and no lab marker: %w",
				s.name, k.Attrs().Name, ErrConflict)
		}
	}
	return nil
}

// release deletes the named namespace when it is ours in the given role (or
// an unmarked, empty leftover), after deleting the router-side ends of its
// veths; a missing namespace is fine.
func (l *Lab) release(name, role string) error {
	m, found, err := namespaceMarker(name)
	if err != nil {
		return err
	}
	if !found {
		return l.unplugEverywhere(name)
	}
	if m == (marker{}) {
		if err := l.checkVacant(name); err != nil {
			return err
		}
	} else if m.role != role || !l.ours(m) {
		return fmt.Errorf("namespace %s is marked %q, not a %s of this lab: %w", name, m, role, ErrConflict)
	}
	if m.router != "" {
		if err := l.unplug(m.router, name); err != nil {
			return err
		}
	}
	if err := l.deleteNamespace(name); err != nil {
		return err
	}
	l.log.Info("namespace deleted", "ns", name, "role", role)
	return nil
}

func (l *Lab) checkVacant(name string) error {
	s, err := openSpace(name)
	if err != nil {
		return err
	}
	defer s.Close()
	return requireVacant(s)
}

// unplugEverywhere deletes the veth ends leading to namespace peer in every
// router of this lab: a namespace deleted behind the lab's back while a
// process still held it may have left its veths alive.
func (l *Lab) unplugEverywhere(peer string) error {
	names, err := namespaceNames()
	if err != nil {
		return err
	}
	for _, n := range names {
		if !strings.HasPrefix(n, l.prefix) {
			continue
		}
		m, found, err := namespaceMarker(n)
		if err != nil {
			return err
		}
		if found && m.role == roleRouter && l.ours(m) {
			if err := l.unplug(n, peer); err != nil {
				return err
			}
		}
	}
	return nil
}

// unplug deletes, in router namespace router, every veth end that leads to
// namespace peer. Deleting it deletes the peer end too, at once, even when
// something still holds the peer's namespace open.
func (l *Lab) unplug(router, peer string) error {
	r, err := openSpace(router)
	if errors.Is(err, errNoNamespace) {
		return nil
	}
	if err != nil {
		return err
	}
	defer r.Close()
	links, err := dump(r.h.LinkList)
	if err != nil {
		return fmt.Errorf("list links of %s: %w", router, err)
	}
	for _, k := range links {
		if m, ok := linkMarker(k); ok && m.ns == peer {
			if err := delLink(r.h, k); err != nil {
				return err
			}
			l.log.Info("veth deleted", "router", router, "if", k.Attrs().Name, "peer", peer)
		}
	}
	return nil
}
