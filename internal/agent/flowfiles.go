package agent

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"palisade.dev/palisade/internal/model"
)

// FlowLogDir is where flow log files go under the data directory: then
// BUCKET/PREFIX/AWSLogs/ACCOUNT/vpcflowlogs/REGION/YYYY/MM/DD/FILE, the
// key layout of AWS's S3 delivery.
const FlowLogDir = "flowlogs"

// flowLogPath is the file of one flow log's records of the window that
// ends at end: AWS's name,
// ACCOUNT_vpcflowlogs_REGION_FLOWLOGID_YYYYMMDDTHHmmZ_HASH.log.gz.
func flowLogPath(root string, f *model.FlowLog, end time.Time, seq uint64) string {
	bucket, prefix := f.Bucket()
	end = end.UTC()
	h := fnv.New32a()
	fmt.Fprintf(h, "%s %d %d", f.ID, end.UnixNano(), seq)
	name := fmt.Sprintf("%s_vpcflowlogs_%s_%s_%s_%08x.log.gz", f.Account, f.Region, f.ID, end.Format("20060102T1504Z"), h.Sum32())
	parts := []string{root, FlowLogDir, bucket}
	if prefix != "" {
		parts = append(parts, filepath.FromSlash(prefix))
	}
	parts = append(parts, "AWSLogs", string(f.Account), "vpcflowlogs", f.Region, end.Format("2006"), end.Format("01"), end.Format("02"), name)
	return filepath.Join(parts...)
}

// writeFlowLog writes one file: a header line of the field names, then one
// line per record. It appears whole (written aside, then renamed). chown
// (nil: none) gives the file and its directories up to root/FlowLogDir
// away.
func writeFlowLog(root, path string, fields []string, recs []model.FlowRecord, chown func(string) error) (int64, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	fmt.Fprintln(zw, strings.Join(fields, " "))
	for i := range recs {
		fmt.Fprintln(zw, recs[i].Line(fields))
	}
	if err := zw.Close(); err != nil {
		return 0, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return 0, err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o640); err != nil {
		return 0, err
	}
	if chown != nil {
		top := filepath.Join(root, FlowLogDir)
		for p := tmp; strings.HasPrefix(p, top); p = filepath.Dir(p) {
			if err := chown(p); err != nil {
				return 0, err
			}
		}
	}
	return int64(buf.Len()), os.Rename(tmp, path)
}

// pruneFlowLogs deletes the oldest flow log files under root until they
// take at most max bytes together, and empty directories they leave.
func pruneFlowLogs(root string, max int64) error {
	type file struct {
		path string
		size int64
		mod  time.Time
	}
	var files []file
	var total int64
	dir := filepath.Join(root, FlowLogDir)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".log.gz") {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return nil // gone meanwhile
		}
		files = append(files, file{p, info.Size(), info.ModTime()})
		total += info.Size()
		return nil
	})
	if err != nil || total <= max {
		return err
	}
	slices.SortFunc(files, func(a, b file) int { return a.mod.Compare(b.mod) })
	for _, f := range files {
		if total <= max {
			break
		}
		if err := os.Remove(f.path); err != nil && !os.IsNotExist(err) {
			return err
		}
		total -= f.size
		for d := filepath.Dir(f.path); d != dir && strings.HasPrefix(d, dir); d = filepath.Dir(d) {
			if os.Remove(d) != nil { // not empty
				break
			}
		}
	}
	return nil
}
