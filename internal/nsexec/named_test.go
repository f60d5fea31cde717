package nsexec

import (
	"errors"
	"os"
	"testing"

	"github.com/vishvananda/netns"

	"palisade.dev/palisade/internal/testutil"
)

// Each test here runs alone in a mount namespace of its own with an empty
// /run (testutil.Isolate): they change how /run/netns is mounted.

func requireNoName(t *testing.T, name string) {
	t.Helper()
	if _, err := os.Lstat(Path(name)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s still exists (%v)", Path(name), err)
	}
}

// TestCreateNamedPreparesTheDirectoryAsIPDoes: the first CreateNamed makes
// /run/netns a shared mount point, so `ip netns add` leaves it alone and
// both tools' names stay removable by either tool.
func TestCreateNamedPreparesTheDirectoryAsIPDoes(t *testing.T) {
	if !testutil.Isolate(t) {
		return
	}
	if err := CreateNamed("ours"); err != nil {
		t.Fatal(err)
	}
	if !IsNamespace(Path("ours")) {
		t.Fatal("ours is no namespace")
	}
	if err := CreateNamed("ours"); !errors.Is(err, ErrExist) {
		t.Errorf("creating ours again: %v, want ErrExist", err)
	}
	testutil.IPNetns(t, "add", "theirs")
	testutil.IPNetns(t, "exec", "ours", "true")
	if err := RemoveNamed("theirs"); err != nil {
		t.Fatal(err)
	}
	testutil.IPNetns(t, "delete", "ours")
	requireNoName(t, "ours")
	requireNoName(t, "theirs")
	if err := RemoveNamed("ours"); err != nil {
		t.Errorf("removing a missing name: %v", err)
	}
}

// TestDeadNamesAreReused: a name made the way this project used to
// (netns.NewNamed: no shared /run/netns) and then covered by `ip netns add`
// cannot be unlinked by anyone. RemoveNamed unmounts what it can and
// succeeds, the name is Dead (no namespace behind it), and CreateNamed
// makes a working namespace of that name again.
func TestDeadNamesAreReused(t *testing.T) {
	if !testutil.Isolate(t) {
		return
	}
	if err := OnThread(func() error {
		ns, err := netns.NewNamed("old")
		if err == nil {
			ns.Close()
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	testutil.IPNetns(t, "add", "theirs")
	if err := RemoveNamed("old"); err != nil {
		t.Fatal(err)
	}
	if !Dead("old") || IsNamespace(Path("old")) {
		t.Fatalf("old: dead %v, namespace %v; want a dead name", Dead("old"), IsNamespace(Path("old")))
	}
	if err := CreateNamed("old"); err != nil {
		t.Fatal(err)
	}
	testutil.IPNetns(t, "exec", "old", "true")
	if Dead("old") {
		t.Error("old is still dead after CreateNamed")
	}
	if err := RemoveNamed("old"); err != nil {
		t.Fatal(err)
	}
	testutil.IPNetns(t, "delete", "theirs")
	requireNoName(t, "theirs")
}
