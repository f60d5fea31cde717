package dataplane

// nf_tables numbers every committed batch of a network namespace: the
// generation. The table remembers the generation its last Apply produced;
// while the namespace's generation is still that number nothing has
// committed anything there since, so Check answers from one netlink round
// trip instead of dumping and comparing the whole table (which takes as
// long as a rebuild at 10,000 rules, and would hold up the agent's next
// change as long).

// generation returns the router namespace's nf_tables generation.
func (t *Table) generation() (uint32, bool) {
	g, err := t.conn.GetGen()
	if err != nil {
		return 0, false
	}
	return g.ID, true
}

// noteCommit records the generation after an Apply whose batch started at
// generation before: known only when no other batch can have slipped in
// between (ours made one step, or none when there was nothing to send).
func (t *Table) noteCommit(before uint32, beforeOK bool) {
	after, ok := t.generation()
	t.genKnown = ok && beforeOK && after-before <= 1
	t.gen = after
}
