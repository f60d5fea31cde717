package dataplane

import (
	"fmt"
	"strings"
)

// Render returns the table that Apply would make for d, as nft text: what
// golden files hold, what `nft -f` accepts (and compiles into the very
// expressions Apply sends, as the kernel cross-check test shows), and the
// most direct way to see what a policy does in the kernel. It is
// deterministic: the same d gives the same text.
func Render(d Desired) (string, error) {
	rs, _, err := build(d, nil)
	if err != nil {
		return "", err
	}
	return rs.text(), nil
}

func (rs *ruleset) text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "table inet %s {\n", TableName)
	for _, o := range rs.objs {
		fmt.Fprintf(&b, "\tct timeout %s {\n\t\tprotocol %s; l3proto inet; policy = { %s };\n\t}\n\n",
			o.name, protoName(o.proto), o.text)
	}
	for _, s := range rs.sets {
		s.writeText(&b)
		b.WriteString("\n")
	}
	for i, c := range rs.chains {
		if i > 0 {
			b.WriteString("\n")
		}
		c.writeText(&b)
	}
	b.WriteString("}\n")
	return b.String()
}

func (s *set) writeText(b *strings.Builder) {
	kind := "set"
	if s.vmap {
		kind = "map"
	}
	fmt.Fprintf(b, "\t%s %s {\n\t\ttype %s\n", kind, s.name, s.typeText())
	if s.interval {
		b.WriteString("\t\tflags interval\n")
	}
	if len(s.elems) > 0 {
		b.WriteString("\t\telements = {\n")
		for i, e := range s.elems {
			sep := ","
			if i == len(s.elems)-1 {
				sep = ""
			}
			fmt.Fprintf(b, "\t\t\t%s%s\n", e.text, sep)
		}
		b.WriteString("\t\t}\n")
	}
	b.WriteString("\t}\n")
}

func (c *chain) writeText(b *strings.Builder) {
	fmt.Fprintf(b, "\tchain %s {\n", c.name)
	if c.base != nil {
		fmt.Fprintf(b, "\t\ttype filter hook forward priority %d; policy drop;\n", *c.base)
	}
	for _, r := range c.rules {
		fmt.Fprintf(b, "\t\t%s\n", r.text)
	}
	b.WriteString("\t}\n")
}
