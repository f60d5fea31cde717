package nsexec

import (
	"fmt"
	"testing"
)

func TestIfIndex(t *testing.T) {
	seen := map[int]string{}
	for i := range 5000 {
		name := fmt.Sprintf("e%014d", i)
		x := IfIndex(name)
		if x < IfIndexMin || x >= 1<<31-1 {
			t.Fatalf("%s: index %d out of range", name, x)
		}
		if x != IfIndex(name) {
			t.Fatalf("%s: not deterministic", name)
		}
		if other, ok := seen[x]; ok {
			t.Fatalf("%s and %s share index %d", name, other, x)
		}
		seen[x] = name
	}
}
