package store

import (
	"errors"
	"fmt"
)

// Sentinel errors; backends wrap them with context, so test with errors.Is.
var (
	ErrNotFound        = errors.New("store: key not found")
	ErrClosed          = errors.New("store: closed")
	ErrCompacted       = errors.New("store: required revision has been compacted")
	ErrFutureRevision  = errors.New("store: required revision is a future revision")
	ErrInvalidArgument = errors.New("store: invalid argument")
	ErrTxnTooLarge     = errors.New("store: transaction too large")
	// ErrNoSpace: a commit failed because the device holding the data is
	// full (ENOSPC, EDQUOT). Nothing was committed; retry once space is
	// freed.
	ErrNoSpace = errors.New("store: no space left on the device holding the data")
	// ErrUnavailable: the backend did not answer in time (an etcd cluster
	// unreachable or without a leader). The operation may or may not have
	// been applied; retry it.
	ErrUnavailable = errors.New("store: unavailable, retry later")
	// ErrPermissionDenied: the backend refused the operation to the user
	// the store connected as (etcd auth: the user's roles do not grant
	// it). Retrying does not help.
	ErrPermissionDenied = errors.New("store: permission denied")
	// ErrLeaseEnded: a Lease.Put after the lease was revoked, lapsed or
	// lost with its store.
	ErrLeaseEnded = errors.New("store: lease ended")
)

// CompactedError says that a watch asked for revisions the change log no
// longer holds. It matches ErrCompacted with errors.Is.
type CompactedError struct {
	// Requested is the revision the watch needed to resume after: its
	// fromRev, or the last revision it had looked at.
	Requested int64
	// Oldest is the oldest revision whose events the log still holds:
	// Watch accepts any fromRev >= Oldest-1.
	Oldest int64
}

func (e *CompactedError) Error() string {
	return fmt.Sprintf("%v: watch from revision %d, oldest revision held is %d",
		ErrCompacted, e.Requested, e.Oldest)
}

// Is makes errors.Is(err, ErrCompacted) true.
func (e *CompactedError) Is(target error) bool { return target == ErrCompacted }
