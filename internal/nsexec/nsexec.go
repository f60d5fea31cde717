// Package nsexec runs code inside a network namespace without moving the
// caller: the one way the lab and the data plane enter the namespaces they
// manage (to open sockets there or write the namespace's sysctls). It also
// names namespaces under /run/netns as iproute2 does, and removes those
// names whatever the mount table looks like (CreateNamed, RemoveNamed): the
// one way the project, its tests included, makes and removes them.
package nsexec

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/vishvananda/netns"
)

// In runs fn on an OS thread inside the network namespace open as fd, and
// returns fn's error. Sockets that fn opens stay in that namespace after In
// returns (they may be used from any goroutine); goroutines that fn starts
// do not run in it. fn must not call runtime.Goexit (so no t.FailNow); a
// panic in fn is re-raised in the caller.
func In(fd int, fn func() error) error {
	return OnThread(func() error {
		if err := netns.Set(netns.NsHandle(fd)); err != nil {
			return fmt.Errorf("enter namespace: %w", err)
		}
		return fn()
	})
}

// Sysctl is one setting under /proc/sys, e.g. {"net/ipv4/ip_forward", "1"}.
type Sysctl struct{ Key, Value string }

// SetSysctls writes the settings inside the namespace open as fd (name is
// for errors). /proc/sys/net resolves to the network namespace of the
// thread that opens the file, hence In (never /proc/net, which follows
// the process's main thread).
func SetSysctls(fd int, name string, settings ...Sysctl) error {
	return In(fd, func() error {
		for _, s := range settings {
			if err := os.WriteFile(filepath.Join("/proc/sys", s.Key), []byte(s.Value), 0o644); err != nil {
				return fmt.Errorf("sysctl %s=%s in %s: %w", s.Key, s.Value, name, err)
			}
		}
		return nil
	})
}

// OnThread runs fn on a new goroutine locked to its OS thread, then puts the
// thread back into the namespace it started in. Only when that succeeds is
// the thread unlocked and returned to the scheduler; otherwise the goroutine
// ends locked and the runtime ends the thread with it, so no other goroutine
// can ever run in a namespace it did not ask for. The caller's own thread is
// never switched.
func OnThread(fn func() error) error {
	type result struct {
		err      error
		panicked bool
		value    any
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			done <- result{err: fmt.Errorf("get current namespace: %w", err)}
			return
		}
		defer orig.Close()
		var res result
		func() {
			defer func() {
				if p := recover(); p != nil {
					res = result{panicked: true, value: p}
				}
			}()
			res.err = fn()
		}()
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
		done <- res
	}()
	res := <-done
	if res.panicked {
		panic(res.value)
	}
	return res.err
}
