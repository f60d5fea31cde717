package dataplane

import (
	"testing"

	"github.com/google/nftables"
)

// TestCheckByGeneration: right after Apply the table knows the namespace's
// generation and Check answers from it; a batch that only touches another
// table is no drift; a batch that touches ours is.
func TestCheckByGeneration(t *testing.T) {
	ns := newNetns(t)
	tbl := openTable(t, ns)
	mustApply(t, tbl, goldenCases()["web"])
	if !tbl.genKnown {
		t.Fatal("the generation is unknown right after an Apply")
	}
	mustNoDrift(t, tbl)
	c, err := nftables.New(nftables.WithNetNSFd(int(tbl.ns.Fd())))
	if err != nil {
		t.Fatal(err)
	}
	other := c.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: "someone_else"})
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	mustNoDrift(t, tbl)
	if g, _ := tbl.generation(); !tbl.genKnown || tbl.gen != g {
		t.Errorf("after a full compare found no drift the generation is not recorded (%d, known %v; now %d)", tbl.gen, tbl.genKnown, g)
	}
	c.DelTable(other)
	c.DelTable(tbl.tbl)
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if drift, err := tbl.Check(); err != nil || !drift {
		t.Fatalf("our table deleted: drift %v, err %v; want drift", drift, err)
	}
}
