// Package storetest is the conformance suite every store.Store backend
// passes: Run it from the backend's tests with a Factory.
//
// The suite is serial and bounded (a few hundred transactions per case at
// most), so it runs in seconds on a shared machine.
package storetest

import (
	"testing"

	"palisade.dev/palisade/internal/store"
)

// Config tunes the store a case opens.
type Config struct {
	// LogRetention is the number of recent revisions the change log keeps;
	// 0 means the backend's default.
	LogRetention int64
}

// Factory opens stores for the suite.
type Factory struct {
	// Open opens the store kept in dir, creating it if dir holds none. Each
	// case gets its own empty dir and closes what it opens.
	Open func(dir string, cfg Config) (store.Store, error)
	// Persistent says that a store opened on a dir sees what earlier,
	// closed stores of that dir wrote. Cases of reopening skip without it.
	Persistent bool
}

// Run runs the whole suite against the stores of f.
func Run(t *testing.T, f Factory) {
	cases := []struct {
		name string
		run  func(*testing.T, *env)
	}{
		{"GetPutDelete", testGetPutDelete},
		{"ValuesAreCopies", testValuesAreCopies},
		{"ListPrefix", testListPrefix},
		{"ListPagination", testListPagination},
		{"InvalidArguments", testInvalidArguments},
		{"RevisionSharedByTxn", testRevisionSharedByTxn},
		{"TxnErrorWritesNothing", testTxnErrorWritesNothing},
		{"TxnWithoutChange", testTxnWithoutChange},
		{"TxnReadsOwnWrites", testTxnReadsOwnWrites},
		{"TxnListMergesWrites", testTxnListMergesWrites},
		{"TxnLimits", testTxnLimits},
		{"TxnUsedAfterReturn", testTxnUsedAfterReturn},
		{"TxnCancelledContext", testTxnCancelledContext},
		{"TxnPanicAndGoexit", testTxnPanicAndGoexit},
		{"ConcurrentCounter", testConcurrentCounter},
		{"ListWriteSkew", testListWriteSkew},
		{"View", testView},
		{"ViewIsSnapshot", testViewIsSnapshot},
		{"WatchReplayFromStart", testWatchReplayFromStart},
		{"WatchFromMiddle", testWatchFromMiddle},
		{"WatchLiveAfterReplay", testWatchLiveAfterReplay},
		{"WatchPrefix", testWatchPrefix},
		{"WatchCompacted", testWatchCompacted},
		{"AutoCompaction", testAutoCompaction},
		{"IdleWatcherOutlivesCompaction", testIdleWatcherOutlivesCompaction},
		{"SlowWatcherDoesNotBlockWriters", testSlowWatcher},
		{"WatcherBehindCompaction", testWatcherBehindCompaction},
		{"WatchCancel", testWatchCancel},
		{"Close", testClose},
		{"ReopenKeepsData", testReopenKeepsData},
		{"ReopenResumesWatch", testReopenResumesWatch},
		{"ReopenKeepsCompaction", testReopenKeepsCompaction},
		{"LeaseRevoke", testLeaseRevoke},
		{"LeaseDetachedByTxn", testLeaseDetachedByTxn},
		{"LeaseArguments", testLeaseArguments},
		{"LeaseEndsWithHolder", testLeaseEndsWithHolder},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.run(t, &env{f: f, dir: t.TempDir()})
		})
	}
}
