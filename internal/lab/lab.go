package lab

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"palisade.dev/palisade/internal/model"
)

// Errors of the lab; match them with errors.Is.
var (
	// ErrInvalid: an argument has the wrong form (id, name, address).
	ErrInvalid = errors.New("invalid argument")
	// ErrNoVPC: the VPC has no router namespace (call EnsureVPC first).
	ErrNoVPC = errors.New("vpc not in the lab")
	// ErrConflict: a namespace of that name exists and is not the lab's, or
	// is the lab's in another role.
	ErrConflict = errors.New("namespace not owned by the lab")
)

// Config configures a Lab. The zero value means DefaultConfig.
type Config struct {
	// RouterPrefix starts the name of every router namespace (Prefix+VPC
	// id). It also identifies the lab: List, Down and the Remove operations
	// see only namespaces whose router has this prefix. 1–32 bytes of
	// letters, digits, '.', '_' and '-'.
	RouterPrefix string
	// MTU of every veth the lab creates, in bytes.
	MTU int
	// HostNamespace names the network namespace that stands for the host's
	// own (where its underlay address lives, and the overlay's UDP
	// sockets); "" is the namespace the process runs in. It lets several
	// hosts share one machine, each in a namespace of its own.
	HostNamespace string
	// Logger receives one line per namespace or interface created or
	// removed; nil discards.
	Logger *slog.Logger
}

// DefaultConfig returns the settings of the agent's lab.
func DefaultConfig() Config {
	return Config{RouterPrefix: "palisade-", MTU: 1500}
}

// Lab wires VPCs, instances and lab hosts as network namespaces on this
// machine. Its methods are safe for concurrent use; they are quick local
// netlink calls and take no context. Every Ensure is idempotent and adopts
// what exists; every Remove of something absent succeeds.
type Lab struct {
	prefix string
	mtu    int
	hostNS string // Config.HostNamespace
	log    *slog.Logger
	mu     sync.Mutex // serialises changes, so a reconcile sees its own writes
}

// New returns a Lab; zero fields of cfg take DefaultConfig's values.
func New(cfg Config) (*Lab, error) {
	def := DefaultConfig()
	if cfg.RouterPrefix == "" {
		cfg.RouterPrefix = def.RouterPrefix
	}
	if cfg.MTU == 0 {
		cfg.MTU = def.MTU
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if len(cfg.RouterPrefix) > 32 || !validChars(cfg.RouterPrefix) {
		return nil, fmt.Errorf("router prefix %q: %w", cfg.RouterPrefix, ErrInvalid)
	}
	if cfg.MTU < 1280 || cfg.MTU > 65535 {
		return nil, fmt.Errorf("mtu %d (want 1280–65535): %w", cfg.MTU, ErrInvalid)
	}
	l := &Lab{prefix: cfg.RouterPrefix, mtu: cfg.MTU, hostNS: cfg.HostNamespace, log: cfg.Logger.With("component", "lab")}
	return l, nil
}

// RouterNamespace returns the name of the router namespace of vpcID.
func (l *Lab) RouterNamespace(vpcID model.VpcID) string { return l.prefix + string(vpcID) }

// ours reports whether m marks a namespace of this lab (its router has our
// prefix).
func (l *Lab) ours(m marker) bool {
	return strings.HasPrefix(m.router, l.prefix) && m.router == l.RouterNamespace(m.vpc)
}

// openRouter opens the router namespace of vpcID; ErrNoVPC when missing.
func (l *Lab) openRouter(vpcID model.VpcID) (*space, error) {
	name := l.RouterNamespace(vpcID)
	m, found, err := namespaceMarker(name)
	if err != nil {
		return nil, err
	}
	if !found || m.role != roleRouter || !l.ours(m) {
		return nil, fmt.Errorf("%s: %w", vpcID, ErrNoVPC)
	}
	return openSpace(name)
}

// namespaceMarker reads the marker of the named namespace; found is false
// when the namespace does not exist, m is zero when it has no marker.
func namespaceMarker(name string) (m marker, found bool, err error) {
	s, err := openSpace(name)
	if errors.Is(err, errNoNamespace) {
		return marker{}, false, nil
	}
	if err != nil {
		return marker{}, false, err
	}
	defer s.Close()
	m, err = loMarker(s)
	return m, true, err
}

// loMarker reads the marker on the namespace's loopback; zero when none.
func loMarker(s *space) (marker, error) {
	lo, err := s.h.LinkByName("lo")
	if err != nil {
		return marker{}, fmt.Errorf("find lo in %s: %w", s.name, err)
	}
	m, _ := linkMarker(lo)
	return m, nil
}
