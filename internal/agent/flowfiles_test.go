package agent

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"palisade.dev/palisade/internal/model"
)

func TestFlowLogPathIsAWSLayout(t *testing.T) {
	f := &model.FlowLog{Scope: model.Scope{Account: "123456789012", Region: "eu-west-1"}, ID: "fl-0123456789abcdef0",
		Destination: "arn:aws:s3:::my-bucket/team/a"}
	got := flowLogPath("/data", f, time.Date(2026, 12, 2, 15, 4, 59, 0, time.UTC), 1)
	dir, name := filepath.Split(got)
	if dir != "/data/flowlogs/my-bucket/team/a/AWSLogs/123456789012/vpcflowlogs/eu-west-1/2026/12/02/" {
		t.Errorf("dir %s", dir)
	}
	matched, _ := filepath.Match("123456789012_vpcflowlogs_eu-west-1_fl-0123456789abcdef0_20261202T1504Z_????????.log.gz", name)
	if !matched {
		t.Errorf("name %s", name)
	}
}

func TestPruneFlowLogsKeepsTheNewest(t *testing.T) {
	root := t.TempDir()
	old := time.Now().Add(-time.Hour)
	var paths []string
	for i := range 4 {
		p := filepath.Join(root, FlowLogDir, "b", "AWSLogs", "1", "d"+string(rune('0'+i)), "f.log.gz")
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, make([]byte, 1000), 0o640); err != nil {
			t.Fatal(err)
		}
		mod := old.Add(time.Duration(i) * time.Minute)
		os.Chtimes(p, mod, mod)
		paths = append(paths, p)
	}
	if err := pruneFlowLogs(root, 2500); err != nil {
		t.Fatal(err)
	}
	for i, p := range paths {
		_, err := os.Stat(p)
		if gone := os.IsNotExist(err); gone != (i < 2) {
			t.Errorf("file %d (of 4, oldest first): gone %v", i, gone)
		}
	}
	if _, err := os.Stat(filepath.Dir(paths[0])); !os.IsNotExist(err) {
		t.Errorf("the emptied directory stays: %v", err)
	}
}

func TestFlowRingKeepsTheLatest(t *testing.T) {
	r := NewFlowRing(8)
	for i := range 20 {
		r.add(model.FlowRecord{Account: "1", Flow: string(rune('a' + i))})
	}
	r.add(model.FlowRecord{Account: "2"})
	got := r.Recent("1", 0)
	if len(got) > 8 || got[len(got)-1].Seq != 20 {
		t.Fatalf("ring of 8 after 20: %d records, last seq %d", len(got), got[len(got)-1].Seq)
	}
	if after := r.Recent("1", 18); len(after) != 2 || after[0].Seq != 19 {
		t.Errorf("after 18: %+v", after)
	}
	if other := r.Recent("2", 0); len(other) != 1 {
		t.Errorf("another account's: %+v", other)
	}
}

func TestWriteFlowLogGivesFilesAway(t *testing.T) {
	root := t.TempDir()
	f := &model.FlowLog{Scope: model.Scope{Account: "123456789012", Region: "us-east-1"}, ID: "fl-0123456789abcdef0",
		Destination: "arn:aws:s3:::b"}
	path := flowLogPath(root, f, time.Now(), 1)
	var given []string
	chown := func(p string) error { given = append(given, p); return nil }
	if _, err := writeFlowLog(root, path, []string{"version"}, []model.FlowRecord{{Version: 2}}, chown); err != nil {
		t.Fatal(err)
	}
	if len(given) == 0 || given[0] != path+".tmp" || given[len(given)-1] != filepath.Join(root, FlowLogDir) {
		t.Errorf("chown of %v", given)
	}
	if _, err := os.Stat(path); err != nil {
		t.Error(err)
	}
}
