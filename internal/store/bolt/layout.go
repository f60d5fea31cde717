package bolt

import (
	"encoding/binary"
	"errors"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"palisade.dev/palisade/internal/store"
	"palisade.dev/palisade/internal/store/internal/core"
)

// Bucket names and meta keys of the file format.
var (
	bucketKV   = []byte("kv")
	bucketLog  = []byte("log")
	bucketMeta = []byte("meta")
	// bucketLease maps each leased key to its lease's ID: the keys of
	// the leases of the process that had the file open, which the next
	// Open deletes.
	bucketLease = []byte("lease")

	metaFormat  = []byte("format")
	metaRev     = []byte("revision")
	metaCompact = []byte("compact")
)

// formatVersion is the file format this package reads and writes. 2: the
// file goes with its write-ahead log (wal.go), and a version that knows
// nothing of the log must not open it. Version 1 files (synced on every
// commit, no log) are taken as they are and stamped 2.
const formatVersion = 2

// errCorrupt marks data this package cannot have written.
var errCorrupt = errors.New("corrupt store data")

// buckets are the buckets of one bbolt transaction.
type buckets struct {
	kv, log, meta, lease *bbolt.Bucket
}

// bucketsOf returns the buckets of tx; initialize has created them.
func bucketsOf(tx *bbolt.Tx) buckets {
	return buckets{kv: tx.Bucket(bucketKV), log: tx.Bucket(bucketLog), meta: tx.Bucket(bucketMeta), lease: tx.Bucket(bucketLease)}
}

// initialize creates the buckets of a new file, checks the format of an
// existing one, and returns its revision.
func initialize(db *bbolt.DB) (rev int64, err error) {
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{bucketKV, bucketLog, bucketMeta, bucketLease} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		b := bucketsOf(tx)
		if err := checkFormat(b.meta); err != nil {
			return err
		}
		rev, err = b.revision()
		return err
	})
	return rev, err
}

// dropOldLeases deletes the keys of the leases of the process that had the
// file before, in one revision after rev, and returns the revision then.
func dropOldLeases(db *bbolt.DB, rev int64) (int64, error) {
	err := db.Update(func(tx *bbolt.Tx) error {
		var err error
		rev, err = dropLeases(bucketsOf(tx), rev)
		return err
	})
	return rev, err
}

// dropLeases deletes the keys of the leases the file holds, all of an
// earlier process (one process holds the file at a time), in one revision
// after rev; it returns the revision then.
func dropLeases(b buckets, rev int64) (int64, error) {
	keys, err := b.leasedKeys(func(int64) bool { return true })
	if err != nil || len(keys) == 0 {
		return rev, err
	}
	events, err := core.DeleteEvents(b, keys, rev+1)
	if err != nil {
		return rev, err
	}
	if len(events) > 0 {
		if _, err := apply(b, rev+1, events); err != nil {
			return rev, err
		}
		rev++
		if err := b.setMetaInt(metaRev, rev); err != nil {
			return rev, err
		}
	}
	return rev, b.detach(keys)
}

// leasedKeys returns the leased keys whose lease matches.
func (b buckets) leasedKeys(match func(lease int64) bool) ([]string, error) {
	var keys []string
	err := b.lease.ForEach(func(k, v []byte) error {
		id, err := decodeUint(v)
		if err != nil {
			return fmt.Errorf("lease of key %q: %w", k, err)
		}
		if match(int64(id)) {
			keys = append(keys, string(k))
		}
		return nil
	})
	return keys, err
}

// attach records the lease of the keys events put (lease 0: the keys
// events write leave their leases).
func (b buckets) attach(lease int64, events []store.Event) error {
	if lease == 0 {
		if k, _ := b.lease.Cursor().First(); k == nil {
			return nil // no leased key: the common case costs nothing
		}
	}
	for _, e := range events {
		var err error
		if lease != 0 && e.Type == store.EventPut {
			err = b.lease.Put([]byte(e.KV.Key), encodeUint(uint64(lease)))
		} else {
			err = b.lease.Delete([]byte(e.KV.Key))
		}
		if err != nil {
			return fmt.Errorf("lease of key %q: %w", e.KV.Key, err)
		}
	}
	return nil
}

// detach forgets the leases of keys.
func (b buckets) detach(keys []string) error {
	for _, k := range keys {
		if err := b.lease.Delete([]byte(k)); err != nil {
			return fmt.Errorf("lease of key %q: %w", k, err)
		}
	}
	return nil
}

// checkFormat stamps a new file with formatVersion and refuses another one.
func checkFormat(meta *bbolt.Bucket) error {
	v := meta.Get(metaFormat)
	if v == nil {
		return meta.Put(metaFormat, encodeUint(formatVersion))
	}
	got, err := decodeUint(v)
	if err == nil && got == 1 {
		return meta.Put(metaFormat, encodeUint(formatVersion))
	}
	if err != nil || got != formatVersion {
		return fmt.Errorf("file format %x, want %d: %w", v, formatVersion, errCorrupt)
	}
	return nil
}

// revision returns the last committed revision.
func (b buckets) revision() (int64, error) { return b.metaInt(metaRev) }

// compacted returns the last compacted revision.
func (b buckets) compacted() (int64, error) { return b.metaInt(metaCompact) }

// metaInt reads a counter of meta; absent means 0.
func (b buckets) metaInt(key []byte) (int64, error) {
	v := b.meta.Get(key)
	if v == nil {
		return 0, nil
	}
	n, err := decodeUint(v)
	if err != nil {
		return 0, fmt.Errorf("meta %s: %w", key, err)
	}
	return int64(n), nil
}

// setMetaInt writes a counter of meta.
func (b buckets) setMetaInt(key []byte, n int64) error {
	if err := b.meta.Put(key, encodeUint(uint64(n))); err != nil {
		return fmt.Errorf("write meta %s: %w", key, err)
	}
	return nil
}

// encodeUint is the 8-byte big-endian form, which also sorts log keys.
func encodeUint(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

func decodeUint(b []byte) (uint64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("integer of %d bytes: %w", len(b), errCorrupt)
	}
	return binary.BigEndian.Uint64(b), nil
}

// revKey is the log key of revision rev.
func revKey(rev int64) []byte { return encodeUint(uint64(rev)) }

// encodeRecord is a key's stored form: create and mod revision, value.
func encodeRecord(kv store.KeyValue) []byte {
	b := make([]byte, 0, 16+len(kv.Value))
	b = binary.BigEndian.AppendUint64(b, uint64(kv.CreateRevision))
	b = binary.BigEndian.AppendUint64(b, uint64(kv.ModRevision))
	return append(b, kv.Value...)
}

// decodeRecord copies a stored key out of bbolt's memory.
func decodeRecord(key, rec []byte) (store.KeyValue, error) {
	if len(rec) < 16 {
		return store.KeyValue{}, fmt.Errorf("record of key %q: %w", key, errCorrupt)
	}
	return store.KeyValue{
		Key:            string(key),
		CreateRevision: int64(binary.BigEndian.Uint64(rec)),
		ModRevision:    int64(binary.BigEndian.Uint64(rec[8:])),
		Value:          append(make([]byte, 0, len(rec)-16), rec[16:]...),
	}, nil
}
