package bolt_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"palisade.dev/palisade/internal/store"
	"palisade.dev/palisade/internal/store/storetest"
)

// crashEnv, set to a directory, turns the test binary into the crash
// test's child: a writer that prints every acknowledged transaction.
const crashEnv = "PALISADE_STORE_CRASH_CHILD"

// Crash test bounds: the parent kills the child after killAfter
// acknowledgements; the child stops on its own after childWrites per writer
// or childTime, should the parent be gone.
const (
	killAfter   = 300
	childWrites = 20_000
	childTime   = 30 * time.Second
)

// TestCrashSafety kills -9 a process that is writing, right after an
// acknowledgement, and checks that every acknowledged write survived.
func TestCrashSafety(t *testing.T) {
	if dir := os.Getenv(crashEnv); dir != "" {
		crashChild(t, dir)
		return
	}
	dir := t.TempDir()
	acks := runAndKill(t, dir)
	if len(acks) < killAfter {
		t.Fatalf("only %d acknowledgements", len(acks))
	}
	s, err := open(dir, storetest.Config{})
	if err != nil {
		t.Fatalf("reopen after kill -9: %v", err)
	}
	defer s.Close()
	checkAcks(t, s, acks)
}

// runAndKill runs the child, kills it after killAfter acknowledgements and
// returns all it acknowledged (key → revision), including lines still in
// the pipe at the kill.
func runAndKill(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashSafety$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child: %v", err)
	}
	timer := time.AfterFunc(childTime, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	acks := map[string]int64{}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if key, rev, ok := parseAck(sc.Text()); ok {
			acks[key] = rev
			if len(acks) == killAfter {
				_ = cmd.Process.Kill() // SIGKILL
			}
		}
	}
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != -1 {
		t.Fatalf("child was not killed: %v", err)
	}
	return acks
}

// parseAck reads "ack <key> <rev>".
func parseAck(line string) (string, int64, bool) {
	f := strings.Fields(line)
	if len(f) != 3 || f[0] != "ack" {
		return "", 0, false
	}
	rev, err := strconv.ParseInt(f[2], 10, 64)
	return f[1], rev, err == nil
}

// checkAcks checks every acknowledged write: value, revision, log entry.
func checkAcks(t *testing.T, s store.Store, acks map[string]int64) {
	t.Helper()
	ctx := context.Background()
	var last int64
	for key, rev := range acks {
		kv, err := s.Get(ctx, key)
		if err != nil || string(kv.Value) != key || kv.ModRevision != rev {
			t.Errorf("acknowledged %s at %d, after the crash: %+v, %v", key, rev, kv, err)
		}
		last = max(last, rev)
	}
	if rev, err := s.Revision(ctx); err != nil || rev < last {
		t.Fatalf("revision %d (%v) after the crash, acknowledged up to %d", rev, err, last)
	}
	ch, err := s.Watch(ctx, "", 0)
	if err != nil {
		t.Fatalf("watch the log after the crash: %v", err)
	}
	for r := range ch {
		if r.Err != nil || r.Revision >= last {
			break
		}
	}
	if _, err := s.Txn(ctx, func(tx store.Tx) error { return tx.Put("after", []byte("crash")) }); err != nil {
		t.Fatalf("txn after the crash: %v", err)
	}
}

// crashChild writes from four goroutines, printing each acknowledged
// transaction, until killed or out of bounds.
func crashChild(t *testing.T, dir string) {
	s, err := open(dir, storetest.Config{})
	if err != nil {
		t.Fatalf("child open: %v", err)
	}
	deadline := time.Now().Add(childTime)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; i < childWrites && time.Now().Before(deadline); i++ {
				key := fmt.Sprintf("w%d/%05d", w, i)
				rev, err := s.Txn(context.Background(), func(tx store.Tx) error { return tx.Put(key, []byte(key)) })
				if err != nil {
					t.Errorf("child txn: %v", err)
					return
				}
				mu.Lock()
				fmt.Printf("ack %s %d\n", key, rev) // os.Stdout is unbuffered
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}
