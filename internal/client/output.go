package client

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Format is how results are printed: --output json|table.
type Format string

// The output formats.
const (
	JSON  Format = "json"
	Table Format = "table"
)

// ParseFormat checks an --output value.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case JSON, Table:
		return f, nil
	}
	return "", fmt.Errorf("output format %q: must be json or table", s)
}

// Print writes v (anything encoding/json renders; field order is kept) as
// JSON indented by four spaces, as the aws CLI prints it, or as tables
// under title: an object's plain values as key/value rows, a list of
// objects as one row per element, and nested objects and lists as further
// tables titled by their key.
func Print(w io.Writer, f Format, title string, v any) error {
	doc, err := json.MarshalIndent(v, "", "    ")
	if err != nil {
		return err
	}
	if f != Table {
		_, err = fmt.Fprintf(w, "%s\n", doc)
		return err
	}
	n, err := parseOrdered(doc)
	if err != nil {
		return err
	}
	var b strings.Builder
	renderNode(&b, title, n)
	_, err = io.WriteString(w, b.String())
	return err
}

// node is a JSON value with object keys in document order.
type node struct {
	keys  []string // object keys
	vals  []*node  // object values, or array elements
	array bool
	text  string // a scalar's text; strings unquoted
	leaf  bool
	null  bool // printed as nothing at all, as the aws CLI omits nulls
}

func (n *node) object() bool { return !n.leaf && !n.array }

func parseOrdered(doc []byte) (*node, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	return parseNode(dec)
}

func parseNode(dec *json.Decoder) (*node, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		if tok == nil {
			return &node{leaf: true, null: true}, nil
		}
		return &node{leaf: true, text: fmt.Sprint(tok)}, nil
	}
	n := &node{array: d == '['}
	for dec.More() {
		if !n.array {
			k, err := dec.Token()
			if err != nil {
				return nil, err
			}
			n.keys = append(n.keys, fmt.Sprint(k))
		}
		v, err := parseNode(dec)
		if err != nil {
			return nil, err
		}
		n.vals = append(n.vals, v)
	}
	_, err = dec.Token() // the closing delimiter
	return n, err
}

// renderNode writes n as one or more tables.
func renderNode(b *strings.Builder, title string, n *node) {
	switch {
	case n.null:
	case n.leaf:
		writeTable(b, title, nil, [][]string{{n.text}})
	case n.object():
		var rows [][]string
		for i, v := range n.vals {
			if v.leaf && !v.null {
				rows = append(rows, []string{n.keys[i], v.text})
			}
		}
		if len(rows) > 0 {
			writeTable(b, title, nil, rows)
		}
		for i, v := range n.vals {
			if !v.leaf {
				renderNode(b, n.keys[i], v)
			}
		}
	default:
		renderList(b, title, n)
	}
}

// renderList writes a list: scalars in one column, objects one per row with
// a column per plain key (nested values follow as tables of their own).
func renderList(b *strings.Builder, title string, n *node) {
	var cols []string
	seen := map[string]bool{}
	var scalars [][]string
	for _, item := range n.vals {
		switch {
		case item.null:
		case item.leaf:
			scalars = append(scalars, []string{item.text})
		case item.object():
			for i, k := range item.keys {
				if item.vals[i].leaf && !item.vals[i].null && !seen[k] {
					seen[k] = true
					cols = append(cols, k)
				}
			}
		}
	}
	if len(scalars) > 0 {
		writeTable(b, title, nil, scalars)
	}
	var rows [][]string
	for _, item := range n.vals {
		if item.object() && len(cols) > 0 {
			rows = append(rows, rowOf(item, cols))
		}
	}
	if len(rows) > 0 {
		writeTable(b, title, cols, rows)
	}
	for _, item := range n.vals {
		switch {
		case item.array:
			renderNode(b, title, item)
		case item.object():
			for i, v := range item.vals {
				if !v.leaf {
					renderNode(b, item.keys[i], v)
				}
			}
		}
	}
}

func rowOf(item *node, cols []string) []string {
	row := make([]string, len(cols))
	for i, c := range cols {
		for j, k := range item.keys {
			if k == c && item.vals[j].leaf {
				row[i] = item.vals[j].text
			}
		}
	}
	return row
}

// writeTable draws one table in the aws CLI's style:
//
//	-------------------------
//	|        title          |
//	+-----------+-----------+
//	|  header   |  header   |
//	+-----------+-----------+
//	|  cell     |  cell     |
//	+-----------+-----------+
func writeTable(b *strings.Builder, title string, header []string, rows [][]string) {
	ncol := len(header)
	for _, r := range rows {
		ncol = max(ncol, len(r))
	}
	widths := make([]int, ncol)
	for _, r := range append([][]string{header}, rows...) {
		for i, c := range r {
			widths[i] = max(widths[i], width(c))
		}
	}
	total := 1
	for _, w := range widths {
		total += w + 5 // "  cell " plus "|"
	}
	if tw := width(title) + 4; tw > total {
		widths[ncol-1] += tw - total
		total = tw
	}
	sep := "+"
	for _, w := range widths {
		sep += strings.Repeat("-", w+4) + "+"
	}
	b.WriteString(strings.Repeat("-", total) + "\n")
	pad := total - 2 - width(title)
	b.WriteString("|" + strings.Repeat(" ", pad/2) + title + strings.Repeat(" ", pad-pad/2) + "|\n")
	b.WriteString(sep + "\n")
	if header != nil {
		writeRow(b, header, widths)
		b.WriteString(sep + "\n")
	}
	for _, r := range rows {
		writeRow(b, r, widths)
	}
	b.WriteString(sep + "\n")
}

func writeRow(b *strings.Builder, cells []string, widths []int) {
	b.WriteString("|")
	for i, w := range widths {
		c := ""
		if i < len(cells) {
			c = cells[i]
		}
		b.WriteString("  " + c + strings.Repeat(" ", w-width(c)+2) + "|")
	}
	b.WriteString("\n")
}

func width(s string) int { return utf8.RuneCountInString(s) }
