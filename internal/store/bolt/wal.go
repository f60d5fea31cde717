package bolt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/fnv"
	"os"
	"path/filepath"
	"syscall"
)

// The write-ahead log.
//
// bbolt makes a commit durable with two fdatasyncs of the file (the pages,
// then the meta page that points to them) and the writes of every page the
// commit touched. With the log, a commit is instead one append to a small
// preallocated file, synced with one fdatasync that flushes no metadata:
// the log's records are what survives a power loss. bbolt takes the
// revisions later, many in one commit that is not synced (NoSync: its pages
// reach the page cache, which is enough for a process that dies; mem.go). Every so often (walCheckpointBytes of records, or
// walCheckpointDelay after a write, or Close) a checkpoint syncs the bbolt
// file and records its two meta pages in the log's header; the records
// after it start afresh.
//
// A crash may leave the bbolt file with the unsynced writes of later
// commits partly on disk, a meta page among them, and bbolt's pages carry
// no checksums. Two things make the checkpoint's state recoverable whatever
// reached the disk:
//
//   - the pages of the checkpoint's tree are never overwritten until the
//     next checkpoint: a bbolt read transaction opened at the checkpoint
//     stays open until then (the pin), and bbolt reuses no page a reader
//     can see;
//   - Open, before bbolt reads the file, writes the header's two meta pages
//     back into it, so bbolt finds the checkpoint's tree, and then replays
//     the records after the checkpoint, each a revision exactly as the
//     change log holds it.
//
// The header names the bbolt file (its inode) and the checkpoint's
// transaction, so a log beside a file it does not belong to is refused
// rather than written into it; a clean Close syncs the file and voids the
// header, so the next Open restores nothing.
//
// Layout (integers little-endian):
//
//	header  = magic:8 epoch:8 inode:8 txid:8 pageSize:4 metas:2*pageSize crc:4
//	record  = recMagic:4 len:4 epoch:8 rev:8 lease:8 entry:len crc:4
//
// Records start at walStart (the header rounded up to 4 KiB) and follow one
// another; the first record that is torn (bad checksum), of another epoch
// (the leftovers of an earlier checkpoint) or out of sequence ends the log.
const (
	walFileSize        = 1 << 20
	walCheckpointBytes = walFileSize / 2
	walHeaderFixed     = 8 + 8 + 8 + 8 + 4
	walRecordFixed     = 4 + 4 + 8 + 8 + 8 + 4
	walRecMagic        = uint32(0x52_4C_41_57) // "WALR"
)

var (
	walMagic   = [8]byte{'P', 'A', 'L', 'W', 'A', 'L', 0, 1}
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
	le         = binary.LittleEndian
)

// WALPath is the write-ahead log of the store file at path.
func WALPath(path string) string { return path + ".wal" }

// walStart is the offset of the first record for a page size.
func walStart(pageSize int) int64 {
	n := int64(walHeaderFixed + 2*pageSize + 4)
	return (n + 4095) &^ 4095
}

// walHeader is what a checkpoint recorded.
type walHeader struct {
	epoch    uint64
	inode    uint64
	txid     uint64 // the checkpoint's bbolt transaction
	pageSize int
	metas    []byte // the bbolt file's first two pages: its meta pages
}

func (h walHeader) encode() []byte {
	b := make([]byte, 0, walHeaderFixed+len(h.metas)+4)
	b = append(b, walMagic[:]...)
	b = le.AppendUint64(b, h.epoch)
	b = le.AppendUint64(b, h.inode)
	b = le.AppendUint64(b, h.txid)
	b = le.AppendUint32(b, uint32(h.pageSize))
	b = append(b, h.metas...)
	return le.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// readWALHeader reads the header of f; ok is false if there is none (a
// voided, torn or never written header).
func readWALHeader(f *os.File) (h walHeader, ok bool, err error) {
	fixed := make([]byte, walHeaderFixed)
	if _, err := f.ReadAt(fixed, 0); err != nil {
		return h, false, nil // shorter than a header: none
	}
	if [8]byte(fixed[:8]) != walMagic {
		return h, false, nil
	}
	h = walHeader{epoch: le.Uint64(fixed[8:]), inode: le.Uint64(fixed[16:]), txid: le.Uint64(fixed[24:]),
		pageSize: int(le.Uint32(fixed[32:]))}
	if h.pageSize < 512 || h.pageSize > 1<<16 || h.pageSize&(h.pageSize-1) != 0 {
		return h, false, nil
	}
	rest := make([]byte, 2*h.pageSize+4)
	if _, err := f.ReadAt(rest, walHeaderFixed); err != nil {
		return h, false, nil
	}
	sum := crc32.Update(crc32.Checksum(fixed, castagnoli), castagnoli, rest[:2*h.pageSize])
	if sum != le.Uint32(rest[2*h.pageSize:]) {
		return h, false, nil
	}
	h.metas = rest[:2*h.pageSize]
	return h, true, nil
}

// walRecord is one revision: its change-log entry and the lease its keys
// join.
type walRecord struct {
	rev, lease int64
	entry      []byte
}

func appendWALRecord(b []byte, epoch uint64, r walRecord) []byte {
	start := len(b)
	b = le.AppendUint32(b, walRecMagic)
	b = le.AppendUint32(b, uint32(len(r.entry)))
	b = le.AppendUint64(b, epoch)
	b = le.AppendUint64(b, uint64(r.rev))
	b = le.AppendUint64(b, uint64(r.lease))
	b = append(b, r.entry...)
	return le.AppendUint32(b, crc32.Checksum(b[start:], castagnoli))
}

// readWALRecords returns the records of epoch in f that follow revision
// after one by one, up to the end of the log.
func readWALRecords(f *os.File, h walHeader, after int64) ([]walRecord, error) {
	data := make([]byte, walFileSize)
	n, err := f.ReadAt(data, 0)
	if err != nil && n == 0 {
		return nil, fmt.Errorf("read write-ahead log: %w", err)
	}
	data = data[:n]
	var recs []walRecord
	for off := walStart(h.pageSize); off+walRecordFixed <= int64(len(data)); {
		b := data[off:]
		size := int64(le.Uint32(b[4:]))
		if le.Uint32(b) != walRecMagic || size > int64(len(b))-walRecordFixed {
			break
		}
		body := b[:walRecordFixed-4+size]
		if crc32.Checksum(body, castagnoli) != le.Uint32(b[len(body):]) || le.Uint64(b[8:]) != h.epoch {
			break
		}
		r := walRecord{rev: int64(le.Uint64(b[16:])), lease: int64(le.Uint64(b[24:])), entry: body[32:]}
		if r.rev != after+1 {
			break
		}
		recs = append(recs, r)
		after = r.rev
		off += int64(len(body)) + 4
	}
	return recs, nil
}

// wal is the open log of a Store.
type wal struct {
	f     *os.File
	epoch uint64
	start int64 // the first record's offset
	off   int64 // the next record's offset
	buf   []byte
}

// openWAL opens the log at path for writing, creating and preallocating it
// if needed (zeros written, so that appends change no metadata and one
// fdatasync flushes only them).
func openWAL(path string, pageSize int) (*wal, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open write-ahead log: %w", err)
	}
	w := &wal{f: f, start: walStart(pageSize)}
	w.off = w.start
	// Epochs go on from the last header's, voided or not, so that no
	// record of an earlier process is ever of the current epoch.
	last := make([]byte, 8)
	if _, err := f.ReadAt(last, 8); err == nil {
		w.epoch = le.Uint64(last)
	}
	if err := w.preallocate(path); err != nil {
		return nil, errors.Join(err, f.Close())
	}
	return w, nil
}

func (w *wal) preallocate(path string) error {
	st, err := w.f.Stat()
	if err != nil {
		return fmt.Errorf("write-ahead log: %w", err)
	}
	if st.Size() >= walFileSize {
		return nil
	}
	if _, err := w.f.WriteAt(make([]byte, walFileSize-st.Size()), st.Size()); err != nil {
		return fmt.Errorf("preallocate write-ahead log: %w", err)
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("preallocate write-ahead log: %w", err)
	}
	return syncDir(filepath.Dir(path))
}

// fits reports whether records of n bytes fit after the last one.
func (w *wal) fits(n int) bool { return w.off+int64(n) <= walFileSize }

// size is the bytes a batch of records takes.
func walSize(recs []walRecord) int {
	n := 0
	for _, r := range recs {
		n += walRecordFixed + len(r.entry)
	}
	return n
}

// append writes recs after the last record and syncs them.
func (w *wal) append(recs []walRecord) error {
	w.buf = w.buf[:0]
	for _, r := range recs {
		w.buf = appendWALRecord(w.buf, w.epoch, r)
	}
	if _, err := w.f.WriteAt(w.buf, w.off); err != nil {
		return fmt.Errorf("write-ahead log: %w", err)
	}
	if err := fdatasync(w.f); err != nil {
		return fmt.Errorf("write-ahead log: %w", err)
	}
	w.off += int64(len(w.buf))
	return nil
}

// retract zeroes the n bytes of records from offset from (written, then
// not committed), so that no replay finds them, nor mistakes one of them
// for the successor of a record written there later.
func (w *wal) retract(from int64, n int) error {
	if _, err := w.f.WriteAt(make([]byte, n), from); err != nil {
		return fmt.Errorf("retract write-ahead log records: %w", err)
	}
	if err := fdatasync(w.f); err != nil {
		return fmt.Errorf("retract write-ahead log records: %w", err)
	}
	w.off = from
	return nil
}

// setHeader writes and syncs a checkpoint's header; the records start
// afresh after it, in its epoch.
func (w *wal) setHeader(h walHeader) error {
	if _, err := w.f.WriteAt(h.encode(), 0); err != nil {
		return fmt.Errorf("write-ahead log header: %w", err)
	}
	if err := fdatasync(w.f); err != nil {
		return fmt.Errorf("write-ahead log header: %w", err)
	}
	w.epoch, w.off = h.epoch, w.start
	return nil
}

// void makes the header invalid (its magic zeroed; the epoch stays, for
// the next process): nothing will be restored or replayed.
func (w *wal) void() error {
	if _, err := w.f.WriteAt(make([]byte, len(walMagic)), 0); err != nil {
		return fmt.Errorf("void write-ahead log: %w", err)
	}
	if err := fdatasync(w.f); err != nil {
		return fmt.Errorf("void write-ahead log: %w", err)
	}
	return nil
}

func fdatasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			return err
		}
	}
}

// inodeOf is the inode number of f.
func inodeOf(f *os.File) (uint64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, errors.New("no inode number")
	}
	return sys.Ino, nil
}

// bbolt's meta page, as its file format (version 2) lays it out: a 16-byte
// page header, then magic, version, page size and flags (4 bytes each),
// the root bucket (16), the free list's page (8), the high-water mark (8),
// the transaction ID (8) and an FNV-64a checksum of everything from the
// magic to the transaction ID.
const (
	boltMetaMagic   = 0xED0CDAED
	boltMetaTxidOff = 16 + 16 + 16 + 8 + 8
	boltMetaSumOff  = boltMetaTxidOff + 8
)

// metaTxid returns the transaction of a meta page, ok false if the page is
// not a valid one (torn, or never written).
func metaTxid(page []byte) (txid uint64, ok bool) {
	if len(page) < boltMetaSumOff+8 || le.Uint32(page[16:]) != boltMetaMagic {
		return 0, false
	}
	h := fnv.New64a()
	h.Write(page[16:boltMetaSumOff])
	if h.Sum64() != le.Uint64(page[boltMetaSumOff:]) {
		return 0, false
	}
	return le.Uint64(page[boltMetaTxidOff:]), true
}

// newestMeta is the highest transaction of the valid meta pages among the
// first two pages in metas (ok false: neither is valid).
func newestMeta(metas []byte, pageSize int) (txid uint64, ok bool) {
	for i := range 2 {
		if t, valid := metaTxid(metas[i*pageSize : (i+1)*pageSize]); valid && (!ok || t > txid) {
			txid, ok = t, true
		}
	}
	return txid, ok
}
