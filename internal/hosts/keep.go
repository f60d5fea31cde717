package hosts

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/store"
)

// retryEvery spaces Keep's attempts to register again while the store
// fails.
const retryEvery = time.Second

// Keep registers the host (as Register, once, before it returns) and keeps
// it registered until stop is called or ctx ends: when the lease ends while
// the host should live (etcd lost it: the agent was cut off from etcd for
// the TTL), it registers again, retrying every second while the store
// fails; each failure goes to report (nil: dropped). stop revokes the lease,
// so that the host shows under assessment at once, and returns once it is
// done.
func Keep(ctx context.Context, st store.Store, name string, underlay netip.Addr, ttl time.Duration, report func(error)) (h model.Host, stop func(), err error) {
	h, lease, err := Register(ctx, st, name, underlay, ttl)
	if err != nil {
		return h, nil, err
	}
	if report == nil {
		report = func(error) {}
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		for lease != nil {
			select {
			case <-ctx.Done():
				if err := lease.Revoke(context.WithoutCancel(ctx)); err != nil {
					report(err)
				}
				return
			case <-lease.Done():
				lease = registerAgain(ctx, st, name, underlay, ttl, report)
			}
		}
	})
	return h, func() { cancel(); wg.Wait() }, nil
}

// registerAgain registers until it succeeds or ctx ends (nil).
func registerAgain(ctx context.Context, st store.Store, name string, underlay netip.Addr, ttl time.Duration, report func(error)) store.Lease {
	for {
		_, lease, err := Register(ctx, st, name, underlay, ttl)
		if err == nil {
			return lease
		}
		if ctx.Err() != nil {
			return nil
		}
		report(err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(retryEvery):
		}
	}
}
