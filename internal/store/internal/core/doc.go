// Package core holds what the store backends share: the transaction overlay
// (buffered writes over a backend's committed state, with the events they
// produce), argument checks, and the watch hub that feeds watchers from a
// backend's persisted change log.
package core
