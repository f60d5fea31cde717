package bolt

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// walCheckpointDelay is how long records wait, at most, for the checkpoint
// that folds them into the synced bbolt file (a variable for tests).
var walCheckpointDelay = time.Second

// errNotOurs refuses a write-ahead log that belongs to another file.
var errNotOurs = errors.New("write-ahead log does not belong to this store file")

// restoreCheckpoint, before bbolt opens the file at path, puts back the
// meta pages of the last checkpoint that the log at walPath recorded, if
// it recorded one: bbolt then reads the checkpoint's tree, whatever later
// unsynced commits left in the file. It returns the header (ok false: no
// checkpoint to restore). It reads the header and writes the file under
// the file's lock: a process that holds the file may be checkpointing.
func restoreCheckpoint(path, walPath string, lockTimeout time.Duration) (h walHeader, ok bool, err error) {
	wf, err := os.Open(walPath)
	if errors.Is(err, os.ErrNotExist) {
		return h, false, nil
	}
	if err != nil {
		return h, false, fmt.Errorf("open write-ahead log: %w", err)
	}
	defer wf.Close()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		if _, ok, _ := readWALHeader(wf); ok {
			return h, false, fmt.Errorf("%w: the file is gone but its log %s holds a checkpoint; move the log away to start afresh", errNotOurs, walPath)
		}
		return h, false, nil
	}
	if err != nil {
		return h, false, fmt.Errorf("restore checkpoint: %w", err)
	}
	defer f.Close()
	if err := lockFile(f, lockTimeout); err != nil {
		return h, false, err
	}
	if h, ok, err = readWALHeader(wf); err != nil || !ok {
		return h, false, err
	}
	ino, err := inodeOf(f)
	if err != nil {
		return h, false, fmt.Errorf("restore checkpoint: %w", err)
	}
	cur := make([]byte, 2*h.pageSize)
	n, _ := f.ReadAt(cur, 0)
	if ino != h.inode || !descends(cur[:n], h) {
		// Another file, or one that did not come from the checkpoint:
		// the log is not its own (the file was replaced or restored).
		return h, false, fmt.Errorf("%w: %s records transaction %d of inode %d, %s (inode %d) does not follow from it; move the log away if the file was replaced on purpose",
			errNotOurs, walPath, h.txid, h.inode, path, ino)
	}
	if _, err := f.WriteAt(h.metas, 0); err != nil {
		return h, false, fmt.Errorf("restore checkpoint: %w", err)
	}
	if err := fdatasync(f); err != nil {
		return h, false, fmt.Errorf("restore checkpoint: %w", err)
	}
	return h, true, nil
}

// descends reports whether the meta pages cur of a file can be those of
// the checkpoint h after a crash: each is the one the checkpoint synced,
// a later one (an unsynced commit that reached the disk) or torn.
func descends(cur []byte, h walHeader) bool {
	if len(cur) < 2*h.pageSize {
		return false
	}
	for i := range 2 {
		page, synced := cur[i*h.pageSize:(i+1)*h.pageSize], h.metas[i*h.pageSize:(i+1)*h.pageSize]
		if txid, valid := metaTxid(page); valid && txid <= h.txid && !bytes.Equal(page, synced) {
			return false
		}
	}
	return true
}

// lockFile takes the exclusive lock bbolt takes, waiting up to timeout;
// closing f releases it.
func lockFile(f *os.File, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if err != syscall.EWOULDBLOCK {
			return fmt.Errorf("lock store file: %w", err)
		}
		if time.Now().After(deadline) {
			return bbolt.ErrTimeout
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// replay applies the log's records after the restored checkpoint, each
// as the revision it was, and returns the revision reached.
func replay(db *bbolt.DB, walPath string, h walHeader, rev, retention int64) (int64, error) {
	wf, err := os.Open(walPath)
	if err != nil {
		return rev, fmt.Errorf("open write-ahead log: %w", err)
	}
	defer wf.Close()
	recs, err := readWALRecords(wf, h, rev)
	if err != nil || len(recs) == 0 {
		return rev, err
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		b := bucketsOf(tx)
		for _, r := range recs {
			events, err := decodeEntry(r.rev, r.entry, "")
			if err != nil {
				return fmt.Errorf("replay write-ahead log: %w", err)
			}
			if _, err := apply(b, r.rev, events); err != nil {
				return err
			}
			if err := b.attach(r.lease, events); err != nil {
				return err
			}
		}
		last := recs[len(recs)-1].rev
		if err := b.setMetaInt(metaRev, last); err != nil {
			return err
		}
		_, err := compactLog(b, last-retention, autoCompactStep)
		return err
	})
	if err != nil {
		return rev, err
	}
	return recs[len(recs)-1].rev, nil
}

// startWAL turns the log on: commits stop syncing the bbolt file, and a
// first checkpoint records where the file stands. If the log cannot be
// had (no room for it, say), commits go on syncing as bbolt does.
func (s *Store) startWAL(walPath string) {
	w, err := openWAL(walPath, s.db.Info().PageSize)
	if err != nil {
		if f, oerr := os.Open(walPath); oerr == nil {
			_, held, _ := readWALHeader(f)
			f.Close()
			if held {
				// A checkpoint this process can neither replace nor
				// void: a later Open would restore it over newer data.
				s.broken = err
				return
			}
		}
		s.log.Warn("no write-ahead log: every commit syncs the store file", "err", err)
		s.closeWAL()
		return
	}
	s.wal = w
	// A second descriptor of the file, to read its meta pages (the page
	// cache's, which bbolt writes) and its inode.
	if s.file, err = os.Open(s.db.Path()); err == nil {
		if s.inode, err = inodeOf(s.file); err == nil {
			s.db.NoSync = true
			err = s.checkpoint()
		}
	}
	if err != nil {
		s.leaveWAL(err)
	}
}

// checkpoint syncs the bbolt file, after it has taken the revisions in
// memory, and records its meta pages in the log's header, pinning the
// checkpoint's pages until the next one. The caller holds s.writer, or is
// Open. An error wrapping errFlush left the log as it was.
func (s *Store) checkpoint() error {
	if err := s.flush(); err != nil {
		return err
	}
	pin, err := s.db.Begin(false)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	h, err := s.header(pin)
	if err == nil {
		err = s.wal.setHeader(h)
	}
	if err != nil {
		_ = pin.Rollback()
		return fmt.Errorf("checkpoint: %w", err)
	}
	if s.pin != nil {
		_ = s.pin.Rollback()
	}
	s.pin = pin
	s.sinceCheckpoint = 0
	return nil
}

// header syncs the file and returns the header of a checkpoint at pin's
// transaction, the last committed one.
func (s *Store) header(pin *bbolt.Tx) (walHeader, error) {
	if err := s.db.Sync(); err != nil {
		return walHeader{}, fmt.Errorf("sync store file: %w", err)
	}
	ps := s.db.Info().PageSize
	metas := make([]byte, 2*ps)
	if _, err := s.file.ReadAt(metas, 0); err != nil {
		return walHeader{}, fmt.Errorf("read meta pages: %w", err)
	}
	if txid, ok := newestMeta(metas, ps); !ok || txid != uint64(pin.ID()) {
		return walHeader{}, fmt.Errorf("meta pages of transaction %d, want %d: not a layout this package knows", txid, pin.ID())
	}
	return walHeader{epoch: s.wal.epoch + 1, inode: s.inode, txid: uint64(pin.ID()), pageSize: ps, metas: metas}, nil
}

// leaveWAL turns the log off after err: the file is synced, the header
// voided (nothing must restore a checkpoint whose pages are no longer
// pinned) and every later commit syncs as bbolt does. If the header cannot
// be voided, the store takes no more writes.
func (s *Store) leaveWAL(err error) {
	s.log.Error("write-ahead log off: every commit syncs the store file from now on", "err", err)
	if ferr := s.flush(); ferr != nil {
		s.broken = fmt.Errorf("revisions only the write-ahead log holds cannot reach the store file, restart to recover them: %w", ferr)
		return
	}
	if serr := s.db.Sync(); serr != nil {
		s.broken = fmt.Errorf("store file cannot be synced, restart to recover it: %w", serr)
		return
	}
	if verr := s.wal.void(); verr != nil {
		s.broken = fmt.Errorf("write-ahead log cannot be voided, restart to recover the store: %w", verr)
		return
	}
	s.db.NoSync = false
	s.closeWAL()
}

// closeWAL releases the pin and the log's file.
func (s *Store) closeWAL() {
	if s.pin != nil {
		_ = s.pin.Rollback()
		s.pin = nil
	}
	if s.wal != nil {
		_ = s.wal.f.Close()
		s.wal = nil
	}
	if s.file != nil {
		_ = s.file.Close()
		s.file = nil
	}
}

// logAhead makes a batch's revisions durable before bbolt commits them
// unsynced: appended to the log, after a checkpoint if they do not fit. It
// returns where they are, for retractFailed; n 0: not logged (the log is
// off, and bbolt syncs the commit, or the batch is too big for it, and
// afterCommit checkpoints).
func (s *Store) logAhead(recs []walRecord, btx *bbolt.Tx) (from int64, n int, err error) {
	if s.wal == nil {
		return 0, 0, nil
	}
	if btx.Size() > int64(s.mmapSize/2) {
		// The pin would block bbolt's remap of a file that outgrew its
		// map (and the write waiting for it, forever): off for good,
		// until the next Open maps more.
		s.leaveWAL(fmt.Errorf("store file of %d bytes nears its map of %d", btx.Size(), s.mmapSize))
		return 0, 0, s.broken
	}
	n = walSize(recs)
	if !s.wal.fits(n) {
		if err := s.checkpoint(); errors.Is(err, errFlush) {
			return 0, 0, err // the log is full until bbolt takes what it holds
		} else if err != nil {
			s.leaveWAL(err)
			return 0, 0, s.broken
		}
		if !s.wal.fits(n) {
			return 0, 0, nil
		}
	}
	from = s.wal.off
	if err := s.wal.append(recs); err != nil {
		// Part of the records may be in the file: void them.
		s.retractFailed(from, n)
		return 0, 0, err
	}
	s.sinceCheckpoint += n
	return from, n, nil
}

// afterCommit runs once a batch is committed: a big batch that bypassed the
// log (logged false) is made durable by a checkpoint at once, and the log is
// checkpointed when half full or, through the timer, a while after.
func (s *Store) afterCommit(logged bool) error {
	if s.wal == nil {
		return nil // bbolt synced the commit
	}
	if !logged || s.sinceCheckpoint >= walCheckpointBytes {
		err := s.checkpoint()
		if logged && errors.Is(err, errFlush) {
			// The batch is durable in the log; the next checkpoint
			// tries again.
			s.log.Warn("checkpoint postponed", "err", err)
			return nil
		}
		if err != nil {
			s.leaveWAL(err)
			return s.broken
		}
		return nil
	}
	if !s.checkpointArmed {
		s.checkpointArmed = true
		time.AfterFunc(walCheckpointDelay, s.timedCheckpoint)
	}
	return nil
}

// timedCheckpoint is the timer's checkpoint.
func (s *Store) timedCheckpoint() {
	s.writer.Lock()
	defer s.writer.Unlock()
	s.checkpointArmed = false
	if s.wal == nil || s.sinceCheckpoint == 0 {
		return
	}
	if err := s.checkpoint(); errors.Is(err, errFlush) {
		s.log.Warn("checkpoint postponed", "err", err) // the next write arms the timer again
	} else if err != nil {
		s.leaveWAL(err)
	}
}

// retractFailed voids the n bytes of a batch's records from offset from,
// written but not committed.
func (s *Store) retractFailed(from int64, n int) {
	if err := s.wal.retract(from, n); err != nil {
		s.leaveWAL(err)
	}
}

// finishWAL ends the log cleanly at Close: the file synced and the
// header voided, so the next Open restores nothing.
func (s *Store) finishWAL() error {
	if s.wal == nil {
		return nil
	}
	defer s.closeWAL()
	if err := s.flush(); err != nil {
		return err // the header stays: Open recovers
	}
	if err := s.db.Sync(); err != nil {
		return fmt.Errorf("sync store file: %w", err) // the header stays: Open recovers
	}
	return s.wal.void()
}
