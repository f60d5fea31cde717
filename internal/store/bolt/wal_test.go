package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"palisade.dev/palisade/internal/store"
)

// crash abandons s as a killed process would: no final sync, the log's
// header left as the last checkpoint wrote it. Only the file lock and the
// descriptors are let go, so that the test can open the file again.
func crash(t *testing.T, s *Store) {
	t.Helper()
	close(s.closing)
	<-s.loopDone
	s.writer.Lock()
	s.closed = true
	if s.pin != nil {
		_ = s.pin.Rollback()
	}
	_ = s.wal.f.Close()
	_ = s.file.Close()
	if err := s.db.Close(); err != nil { // bbolt's Close syncs nothing
		t.Fatal(err)
	}
}

// put writes key=value in a transaction of its own and returns the
// revision.
func put(t *testing.T, s *Store, key, value string) int64 {
	t.Helper()
	rev, err := s.Txn(context.Background(), func(tx store.Tx) error { return tx.Put(key, []byte(value)) })
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
	return rev
}

// expect checks that s holds every key of want with its value and
// revision, and that the file is consistent.
func expect(t *testing.T, s *Store, want map[string]int64) {
	t.Helper()
	for key, rev := range want {
		kv, err := s.Get(context.Background(), key)
		if err != nil || string(kv.Value) != "v-"+key || kv.ModRevision != rev {
			t.Fatalf("%s: %+v, %v; want revision %d", key, kv, err, rev)
		}
	}
	err := s.db.View(func(tx *bbolt.Tx) error {
		for err := range tx.Check() {
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatalf("file inconsistent: %v", err)
	}
}

func openForTest(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.wal == nil {
		t.Fatal("the write-ahead log is off: bbolt's meta page layout is not the one wal.go reads")
	}
	return s
}

// noTimedCheckpoints keeps the timer out of a test that needs to know
// where the last checkpoint stands.
func noTimedCheckpoints(t *testing.T) {
	old := walCheckpointDelay
	walCheckpointDelay = time.Hour
	t.Cleanup(func() { walCheckpointDelay = old })
}

// TestWALCommitsSyncOnlyTheLog: a commit leaves bbolt's file unsynced and
// its records in the log; the file's meta pages stay readable by wal.go.
func TestWALCommitsSyncOnlyTheLog(t *testing.T) {
	noTimedCheckpoints(t)
	path := filepath.Join(t.TempDir(), "palisade.db")
	s := openForTest(t, path)
	defer s.Close()
	if !s.db.NoSync {
		t.Fatal("bbolt still syncs each commit")
	}
	before := s.wal.off
	rev := put(t, s, "a", "v-a")
	if s.wal.off <= before {
		t.Fatal("the commit wrote no record")
	}
	h, ok, err := readWALHeader(s.wal.f)
	if err != nil || !ok {
		t.Fatalf("header: %v %v", ok, err)
	}
	recs, err := readWALRecords(s.wal.f, h, rev-1)
	if err != nil || len(recs) != 1 || recs[0].rev != rev {
		t.Fatalf("records after the checkpoint: %+v, %v", recs, err)
	}
	metas := make([]byte, 2*h.pageSize)
	if _, err := s.file.ReadAt(metas, 0); err != nil {
		t.Fatal(err)
	}
	var id int
	_ = s.db.View(func(tx *bbolt.Tx) error { id = tx.ID(); return nil })
	if txid, ok := newestMeta(metas, h.pageSize); !ok || txid != uint64(id) {
		t.Fatalf("meta pages say transaction %d (%v), bbolt is at %d", txid, ok, id)
	}
}

// TestWALPowerLoss: after a crash, the file on disk is the last checkpoint
// plus any part of the unsynced writes that followed (a torn meta page
// among them); Open must come back with every acknowledged revision and a
// consistent file, whichever part reached the disk.
func TestWALPowerLoss(t *testing.T) {
	noTimedCheckpoints(t)
	path := filepath.Join(t.TempDir(), "palisade.db")
	s := openForTest(t, path)
	acked := map[string]int64{}
	write := func(from, to int) {
		for i := from; i < to; i++ {
			key := fmt.Sprintf("k%04d", i%150) // overwrites free and reuse pages
			acked[key] = put(t, s, key, "v-"+key)
		}
	}
	write(0, 300)
	s.writer.Lock()
	if err := s.checkpoint(); err != nil {
		t.Fatal(err)
	}
	s.writer.Unlock()
	synced, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	write(300, 700)
	if _, err := s.Txn(context.Background(), func(tx store.Tx) error { return tx.Delete("k0007") }); err != nil {
		t.Fatal(err)
	}
	delete(acked, "k0007")
	crash(t, s)
	latest, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	log, err := os.ReadFile(WALPath(path))
	if err != nil {
		t.Fatal(err)
	}
	ps := os.Getpagesize()
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 12 {
		disk := make([]byte, len(latest))
		copy(disk, latest)
		for off := 0; off < len(disk); off += ps {
			end := min(off+ps, len(disk))
			var old []byte
			if off < len(synced) {
				old = synced[off:min(end, len(synced))]
			} else {
				old = make([]byte, end-off) // a hole the file grew into
			}
			switch {
			case off < 2*ps && rng.IntN(3) == 0:
				copy(disk[off:end], bytes.Repeat([]byte{0xAB}, end-off)) // a torn meta page
			case rng.IntN(2) == 0:
				copy(disk[off:end], old) // this write never reached the disk
			}
		}
		if err := os.WriteFile(path, disk, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(WALPath(path), log, 0o600); err != nil {
			t.Fatal(err)
		}
		r := openForTest(t, path)
		expect(t, r, acked)
		if _, err := r.Get(context.Background(), "k0007"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("trial %d: deleted key: %v", trial, err)
		}
		if rev, _ := r.Revision(context.Background()); rev < acked["k0149"] {
			t.Fatalf("trial %d: revision %d", trial, rev)
		}
		put(t, r, "after", "v-after")
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestWALTornTail: a record whose write was cut short (never acknowledged,
// its fdatasync had not returned) ends the log; what came before stands.
func TestWALTornTail(t *testing.T) {
	noTimedCheckpoints(t)
	path := filepath.Join(t.TempDir(), "palisade.db")
	s := openForTest(t, path)
	acked := map[string]int64{}
	for i := range 20 {
		key := fmt.Sprintf("k%02d", i)
		acked[key] = put(t, s, key, "v-"+key)
	}
	end := s.wal.off
	crash(t, s)
	f, err := os.OpenFile(WALPath(path), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	h, _, _ := readWALHeader(f)
	torn := appendWALRecord(nil, h.epoch, walRecord{rev: acked["k19"] + 1, entry: encodeEntry([]store.Event{{Type: store.EventPut,
		KV: store.KeyValue{Key: "torn", Value: []byte("v-torn")}}})})
	if _, err := f.WriteAt(torn[:len(torn)-3], end); err != nil {
		t.Fatal(err)
	}
	f.Close()
	r := openForTest(t, path)
	defer r.Close()
	expect(t, r, acked)
	if _, err := r.Get(context.Background(), "torn"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("torn record replayed: %v", err)
	}
}

// TestWALRetractedRecordsStayDead: records voided after a failed commit
// are not replayed, even when a shorter batch is logged where they began.
func TestWALRetractedRecordsStayDead(t *testing.T) {
	dir := t.TempDir()
	w, err := openWAL(filepath.Join(dir, "x.wal"), 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer w.f.Close()
	h := walHeader{epoch: 7, pageSize: 4096, metas: make([]byte, 8192)}
	if err := w.setHeader(h); err != nil {
		t.Fatal(err)
	}
	rec := func(rev int64, size int) walRecord {
		return walRecord{rev: rev, entry: bytes.Repeat([]byte{'x'}, size)}
	}
	if err := w.append([]walRecord{rec(1, 10)}); err != nil {
		t.Fatal(err)
	}
	failed := []walRecord{rec(2, 10), rec(3, 10)}
	from := w.off
	if err := w.append(failed); err != nil {
		t.Fatal(err)
	}
	if err := w.retract(from, walSize(failed)); err != nil {
		t.Fatal(err)
	}
	if err := w.append([]walRecord{rec(2, 10)}); err != nil { // as long as the first voided one
		t.Fatal(err)
	}
	recs, err := readWALRecords(w.f, h, 0)
	if err != nil || len(recs) != 2 || recs[1].rev != 2 {
		t.Fatalf("records: %+v, %v; want revisions 1 and 2 only", recs, err)
	}
}

// TestWALRefusesAnotherFile: a log left by a crash is not restored into a
// store file it does not belong to (the file was replaced), nor does a
// log stand in for a file that is gone.
func TestWALRefusesAnotherFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "palisade.db")
	s := openForTest(t, path)
	put(t, s, "a", "v-a")
	crash(t, s)
	other := filepath.Join(dir, "other.db")
	o := openForTest(t, other)
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(other, path); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, Options{}); !errors.Is(err, errNotOurs) {
		t.Fatalf("open a replaced file with the old log: %v", err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, Options{}); !errors.Is(err, errNotOurs) {
		t.Fatalf("open a log whose file is gone: %v", err)
	}
}

// TestWALBigBatches: a batch that does not fit after the records before
// it is logged after a checkpoint; one too big for the log at all is
// committed and made durable by a checkpoint instead. Both survive a
// crash.
func TestWALBigBatches(t *testing.T) {
	noTimedCheckpoints(t)
	path := filepath.Join(t.TempDir(), "palisade.db")
	s := openForTest(t, path)
	values := map[string][]byte{
		"400k": bytes.Repeat([]byte{'a'}, 400_000),
		"700k": bytes.Repeat([]byte{'b'}, 700_000),          // does not fit after 400k
		"1m":   bytes.Repeat([]byte{'c'}, walFileSize-8500), // fits no log
	}
	revs := map[string]int64{}
	for _, key := range []string{"400k", "700k", "1m"} {
		rev, err := s.Txn(context.Background(), func(tx store.Tx) error { return tx.Put(key, values[key]) })
		if err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
		revs[key] = rev
	}
	small := put(t, s, "small", "v-small")
	crash(t, s)
	r := openForTest(t, path)
	defer r.Close()
	for key, v := range values {
		kv, err := r.Get(context.Background(), key)
		if err != nil || !bytes.Equal(kv.Value, v) || kv.ModRevision != revs[key] {
			t.Fatalf("%s after the crash: %d bytes at %d, %v", key, len(kv.Value), kv.ModRevision, err)
		}
	}
	expect(t, r, map[string]int64{"small": small})
}

// TestCloseLeavesNothingToRestore: a clean Close syncs the file and voids
// the log's header; the next process's epochs follow the last one's.
func TestCloseLeavesNothingToRestore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "palisade.db")
	s := openForTest(t, path)
	put(t, s, "a", "v-a")
	epoch := s.wal.epoch
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(WALPath(path))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, ok, _ := readWALHeader(f); ok {
		t.Fatal("the header survived a clean Close")
	}
	r := openForTest(t, path)
	defer r.Close()
	if r.wal.epoch <= epoch {
		t.Fatalf("epoch %d after %d", r.wal.epoch, epoch)
	}
	expect(t, r, map[string]int64{"a": 1})
}

// TestWALCrashWhileRecovering: a crash during Open, after it replayed the
// log and dropped the old leases' keys (synced commits) but before its
// first checkpoint replaced the header, leaves the old checkpoint
// restorable: those writes did not reuse its pages.
func TestWALCrashWhileRecovering(t *testing.T) {
	noTimedCheckpoints(t)
	path := filepath.Join(t.TempDir(), "palisade.db")
	s := openForTest(t, path)
	acked := map[string]int64{}
	write := func(s *Store, from, to int) {
		for i := from; i < to; i++ {
			key := fmt.Sprintf("k%04d", i%120)
			acked[key] = put(t, s, key, "v-"+key)
		}
	}
	write(s, 0, 300)
	s.writer.Lock()
	if err := s.checkpoint(); err != nil {
		t.Fatal(err)
	}
	s.writer.Unlock()
	lease, err := s.Grant(context.Background(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lease.Put(context.Background(), "leased", []byte("v")); err != nil {
		t.Fatal(err)
	}
	write(s, 300, 700)
	crash(t, s)

	var disk, log []byte
	testHookRecovered = func() { // the power fails here
		var err error
		if disk, err = os.ReadFile(path); err != nil {
			t.Error(err)
		}
		if log, err = os.ReadFile(WALPath(path)); err != nil {
			t.Error(err)
		}
	}
	r, err := Open(path, Options{})
	testHookRecovered = nil
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if disk == nil {
		t.Fatal("the hook did not run")
	}
	if err := os.WriteFile(path, disk, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(WALPath(path), log, 0o600); err != nil {
		t.Fatal(err)
	}
	again := openForTest(t, path)
	defer again.Close()
	expect(t, again, acked)
	if _, err := again.Get(context.Background(), "leased"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the old lease's key: %v", err)
	}
}
