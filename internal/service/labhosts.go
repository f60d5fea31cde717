package service

import (
	"context"
	"errors"
	"net/netip"

	"palisade.dev/palisade/internal/hosts"
	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/store"
)

// Lab host names are unique within an account, across its regions, since
// the host's network namespace is named after the account and the name
// (model.LabHostNamespace). Each is indexed:
//
//	h/<account>/<name>   -> the resource key of the host
//
// Stores written before names were scoped index hosts by name alone
// (h/<name>); such an entry still counts as a duplicate for the account
// that owns the host it names, is ignored for every other account, and is
// removed with its host.
const labHostIndex = "h/"

func labHostKey(acct model.AccountID, name string) string {
	return labHostIndex + string(acct) + "/" + name
}

// CreateLabHostInput is a request for an outside computer in the lab.
type CreateLabHostInput struct {
	Name  string
	VpcID string
	IPv4  string
	IPv6  string // optional
	// Host names the host whose router of the VPC the lab host is
	// attached to (palisade agent --host); "": a host that runs an
	// instance of the VPC, else the least loaded (hosts.go).
	Host string
}

// CreateLabHost stores an outside computer: a namespace with one address
// outside its VPC, which reaches the VPC's instances by their private
// addresses with its own address as the source. Its name is the caller's
// (unique in the account); its namespace is LabHost.Namespace.
func (s *Service) CreateLabHost(ctx context.Context, c Caller, in CreateLabHostInput) (*model.LabHost, error) {
	if err := model.CheckLabHostName(in.Name); err != nil {
		return nil, err
	}
	vid, err := model.ParseVpcID(in.VpcID)
	if err != nil {
		return nil, err
	}
	h := &model.LabHost{Scope: c.scope(), Name: in.Name, VPC: vid}
	if h.IPv4, err = parseHostAddr(in.IPv4, false); err != nil {
		return nil, err
	}
	if in.IPv6 != "" {
		if h.IPv6, err = parseHostAddr(in.IPv6, true); err != nil {
			return nil, err
		}
	}
	if in.Host != "" {
		if err := hosts.CheckName(in.Host); err != nil {
			return nil, err
		}
	}
	err = s.txn(ctx, c, "CreateLabHost", func(t *tx) error {
		v, err := t.vpc(vid)
		if err != nil {
			return err
		}
		if h.Host, err = t.labHostPlacement(in.Host, vid); err != nil {
			return err
		}
		if v.CIDR.Contains(h.IPv4) || (h.IPv6.IsValid() && v.IPv6CIDR.IsValid() && v.IPv6CIDR.Contains(h.IPv6)) {
			return model.Errorf(model.CodeInvalidParameterValue, "Address of lab host '%s' is inside VPC %s: an outside host needs an address outside the VPC's CIDR blocks.", h.Name, vid)
		}
		if h.IPv6.IsValid() && !v.IPv6CIDR.IsValid() {
			return model.Errorf(model.CodeInvalidParameterValue, "VPC %s has no IPv6 block: instances could not answer an IPv6 lab host.", vid)
		}
		if dup, err := t.labHostTaken(h.Name); err != nil {
			return err
		} else if dup {
			return model.Errorf(model.CodeInvalidLabHostDuplicate, "A lab host named '%s' already exists.", h.Name)
		}
		hosts, err := list[model.LabHost](t, model.KeyLabHost)
		if err != nil {
			return err
		}
		for _, o := range hosts {
			if o.VPC == vid && (o.IPv4 == h.IPv4 || (h.IPv6.IsValid() && o.IPv6 == h.IPv6)) {
				return model.Errorf(model.CodeInvalidIPAddressInUse, "Lab host '%s' already uses that address in VPC %s.", o.Name, vid)
			}
		}
		if err := t.Put(labHostKey(c.Account, h.Name), []byte(model.ResourceKey(h.Scope, model.KeyLabHost, h.Name))); err != nil {
			return err
		}
		return t.put(model.KeyLabHost, h.Name, h)
	})
	if err != nil {
		return nil, err
	}
	return h, nil
}

// parseHostAddr accepts a unicast address of the right family that is not
// loopback, link-local or unspecified (the lab's links use link-local
// gateways).
func parseHostAddr(s string, v6 bool) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	bad := err != nil || a.Is6() != v6 || a.Is4In6() || a.Zone() != "" || !a.IsGlobalUnicast() && !a.IsPrivate()
	if bad || a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsUnspecified() || a.IsMulticast() {
		fam := "IPv4"
		if v6 {
			fam = "IPv6"
		}
		return netip.Addr{}, model.Errorf(model.CodeInvalidParameterValue, "Invalid %s address '%s' for a lab host: use a unicast address outside the VPC.", fam, s)
	}
	return a, nil
}

// DeleteLabHost removes a lab host of the caller.
func (s *Service) DeleteLabHost(ctx context.Context, c Caller, name string) error {
	return s.txn(ctx, c, "DeleteLabHost", func(t *tx) error {
		var h model.LabHost
		ok, err := t.get(model.KeyLabHost, name, &h)
		if err != nil {
			return err
		}
		if !ok {
			return model.Errorf(model.CodeInvalidLabHostNotFound, "The lab host '%s' does not exist", name)
		}
		if err := t.Delete(labHostKey(c.Account, name)); err != nil {
			return err
		}
		if mine, err := t.legacyLabHost(name); err != nil {
			return err
		} else if mine {
			if err := t.Delete(labHostIndex + name); err != nil {
				return err
			}
		}
		return t.del(model.KeyLabHost, name)
	})
}

// labHostTaken reports whether the caller's account has a lab host named
// name, in any region.
func (t *tx) labHostTaken(name string) (bool, error) {
	if _, err := t.Get(labHostKey(t.c.Account, name)); err == nil {
		return true, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	return t.legacyLabHost(name)
}

// legacyLabHost reports whether the unscoped index entry h/<name> of an
// older store names a host of the caller's account.
func (t *tx) legacyLabHost(name string) (bool, error) {
	kv, err := t.Get(labHostIndex + name)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	scope, _, _, ok := model.ParseResourceKey(string(kv.Value))
	return ok && scope.Account == t.c.Account, nil
}

// ListLabHosts returns the caller's lab hosts, by name.
func (s *Service) ListLabHosts(ctx context.Context, c Caller) ([]model.LabHost, error) {
	var out []model.LabHost
	err := s.read(ctx, c, "ListLabHosts", func(t *tx) error {
		var err error
		out, err = list[model.LabHost](t, model.KeyLabHost)
		return err
	})
	return out, err
}
