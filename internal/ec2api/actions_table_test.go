package ec2api

import "testing"

// TestEveryActionInOneTable: an action named by two handler files' tables
// would be answered by whichever came last; every name must be in one.
func TestEveryActionInOneTable(t *testing.T) {
	seen := map[string]int{}
	for i, part := range actionTables {
		for name := range part() {
			if j, ok := seen[name]; ok {
				t.Errorf("action %s is in tables %d and %d of actionTables", name, j, i)
			}
			seen[name] = i
		}
	}
	if len(seen) != len(ec2Actions()) || len(seen) < 50 {
		t.Errorf("%d actions in the tables, %d served", len(seen), len(ec2Actions()))
	}
}
