// Package store is Palisade's storage contract: an ordered key-value store
// with a global revision, serializable read-modify-write transactions and a
// watch of changes that resumes from any revision the change log still holds.
//
// Keys are slash-separated paths (acct/123456789012/us-east-1/sg/sg-0abc…),
// values are opaque bytes (callers store JSON). Backends: bolt (embedded,
// the default), mem (tests of other packages) and etcd (clusters).
// All of them pass the one conformance suite in storetest.
//
// # Revisions
//
// Every committed transaction that changes something gets the next revision,
// shared by all of its writes; a transaction that changes nothing does not
// bump it. Revisions are consecutive as long as the store is the only writer
// of its backend (always for bolt and mem; for etcd, on a cluster dedicated
// to Palisade). The revision of a fresh store is backend-defined (0 for bolt
// and mem, 1 for etcd): compare revisions, do not assume their origin.
//
// # The etcd mapping
//
// The contract is what bbolt and etcd's clientv3 can both provide, so that
// the etcd backend (store/etcd) needs no change in any caller:
//
//   - Txn reads at one etcd revision, buffers its writes, and commits them
//     in one etcd Txn guarded by compares on the mod revisions of every key
//     range it read (deletes leave tombstones so that a key deleted from a
//     listed range is seen); a failed compare re-runs fn. Hence "the
//     function may run more than once", and the limits MaxTxnWrites and
//     MaxTxnBytes.
//   - Watch is clientv3.Watch(WithPrefix, WithRev, WithPrevKV), whose
//     responses are grouped per revision; a compacted start revision maps
//     to *CompactedError.
//   - Compact maps to etcd's Compact. Reads are always at the latest
//     revision: no backend offers reads at a past revision.
//   - Grant is an etcd lease that the client keeps alive (KeepAlive), and
//     Lease.Put an etcd Put with the lease: a holder that dies loses its
//     keys once the TTL passes. mem and bolt, one process each, keep a
//     lease until Revoke or Close; bolt deletes at Open the keys of the
//     leases an earlier process left.
//   - An etcd that does not answer in time is ErrUnavailable.
package store
