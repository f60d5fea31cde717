package ec2api

import (
	"slices"
	"strconv"
	"strings"

	"palisade.dev/palisade/internal/model"
)

// MaxIndex is the largest list index accepted (GroupId.10000). EC2's own
// limits are far lower; this bound only stops absurd input early.
const MaxIndex = 10000

// MaxParams bounds the number of parameters in one request.
const MaxParams = 10000

// Params is a typed, read-tracking view of the parameters of one EC2 Query
// request, or of one element of a list within it. Names are wire names
// relative to the view: on the element IpPermissions.1, String("FromPort")
// reads IpPermissions.1.FromPort. All views of a request share one record of
// what has been read. A Params is not safe for concurrent use.
type Params struct {
	form *form
	at   *node // this view's position in the tree
}

// form is the decoded request: parameters as a tree of dotted name segments,
// plus the order they came in.
type form struct {
	root  node
	order []*node // nodes that carry a value, in request order
}

// node is one dotted segment of a parameter name.
type node struct {
	name     string // full wire name, e.g. "IpPermissions.1.FromPort"
	value    string
	hasValue bool
	read     bool
	children map[string]*node
}

// add stores one parameter, creating the nodes of its path. A name given
// twice is an error. Node names are prefixes of name, which share its
// memory: a long name with many dots costs linear, not quadratic, space.
func (f *form) add(name, value string) error {
	if len(f.order) >= MaxParams {
		return model.Errorf(model.CodeInvalidParameterValue, "The request has more than %d parameters.", MaxParams)
	}
	n := &f.root
	for start := 0; ; {
		end := strings.IndexByte(name[start:], '.')
		if end < 0 {
			end = len(name)
		} else {
			end += start
		}
		n = n.child(name[start:end], name[:end])
		if end == len(name) {
			break
		}
		start = end + 1
	}
	if n.hasValue {
		return model.Errorf(model.CodeInvalidParameterValue, "The parameter %s is given more than once.", clipValue(name))
	}
	n.value, n.hasValue = value, true
	f.order = append(f.order, n)
	return nil
}

// child returns the child seg of n, creating it with the given full name.
func (n *node) child(seg, fullName string) *node {
	if c := n.children[seg]; c != nil {
		return c
	}
	if n.children == nil {
		n.children = make(map[string]*node)
	}
	c := &node{name: fullName}
	n.children[seg] = c
	return c
}

// descend walks the dotted path name below n; nil when it does not exist.
func (n *node) descend(name string) *node {
	for rest, more := name, true; more && n != nil; {
		var seg string
		seg, rest, more = strings.Cut(rest, ".")
		n = n.children[seg]
	}
	return n
}

func joinName(prefix, seg string) string {
	if prefix == "" {
		return seg
	}
	return prefix + "." + seg
}

// get finds a value-carrying parameter and marks it read.
func (p *Params) get(name string) (*node, bool) {
	n := p.at.descend(name)
	if n == nil || !n.hasValue {
		return nil, false
	}
	n.read = true
	return n, true
}

// Name returns the full wire name of name in this view, for messages:
// on the element IpPermissions.1, Name("FromPort") is "IpPermissions.1.FromPort".
func (p *Params) Name(name string) string {
	return joinName(p.at.name, name)
}

// Has reports whether the request carries name, as a value or as the prefix
// of others (Has("IpPermissions") for IpPermissions.1.IpProtocol). It marks
// nothing read.
func (p *Params) Has(name string) bool {
	return p.at.descend(name) != nil
}

// OptString returns the value of name and whether it was given at all.
func (p *Params) OptString(name string) (string, bool) {
	n, ok := p.get(name)
	if !ok {
		return "", false
	}
	return n.value, true
}

// String returns the value of name, or "" when it is absent.
func (p *Params) String(name string) string {
	v, _ := p.OptString(name)
	return v
}

// Required returns the value of name, or MissingParameter when it is absent
// or empty.
func (p *Params) Required(name string) (string, error) {
	v, _ := p.OptString(name)
	if v == "" {
		return "", model.Errorf(model.CodeMissingParameter, "The request must contain the parameter %s", p.Name(name))
	}
	return v, nil
}

// OptInt32 returns the integer value of name, nil when it is absent, and
// InvalidParameterValue when it is not a 32-bit decimal integer.
func (p *Params) OptInt32(name string) (*int32, error) {
	n, ok := p.get(name)
	if !ok {
		return nil, nil
	}
	i, err := strconv.ParseInt(n.value, 10, 32)
	if err != nil {
		return nil, invalidValue(n, "Expecting a 32-bit integer.")
	}
	v := int32(i)
	return &v, nil
}

// OptBool returns the boolean value of name ("true" or "false", in any
// case), nil when it is absent.
func (p *Params) OptBool(name string) (*bool, error) {
	n, ok := p.get(name)
	if !ok {
		return nil, nil
	}
	var v bool
	switch strings.ToLower(n.value) {
	case "true":
		v = true
	case "false":
	default:
		return nil, invalidValue(n, "Expecting true or false.")
	}
	return &v, nil
}

// Bool returns the boolean value of name, false when it is absent
// (DryRun, for example).
func (p *Params) Bool(name string) (bool, error) {
	v, err := p.OptBool(name)
	if v == nil {
		return false, err
	}
	return *v, nil
}

func invalidValue(n *node, expect string) *model.Error {
	return model.Errorf(model.CodeInvalidParameterValue, "Value (%s) for parameter %s is invalid. %s",
		clipValue(n.value), clipValue(n.name), expect)
}

// Strings returns the list name.1, name.2, … in index order (nil when there
// is none). See the package documentation for gaps and odd indexes.
func (p *Params) Strings(name string) ([]string, error) {
	elems, err := p.elements(name)
	var out []string
	for _, n := range elems {
		if n.hasValue {
			n.read = true
			out = append(out, n.value)
		}
	}
	return out, err
}

// List returns a view of each element of the list of structures name:
// List("IpPermissions") gives IpPermissions.1, IpPermissions.2, … in index
// order, on which String("IpProtocol") reads IpPermissions.N.IpProtocol.
func (p *Params) List(name string) ([]*Params, error) {
	elems, err := p.elements(name)
	if err != nil {
		return nil, err
	}
	out := make([]*Params, len(elems))
	for i, n := range elems {
		out[i] = &Params{form: p.form, at: n}
	}
	return out, nil
}

// elements returns the children of name whose segment is a list index, in
// index order, or an error for an index above MaxIndex.
func (p *Params) elements(name string) ([]*node, error) {
	list := p.at.descend(name)
	if list == nil {
		return nil, nil
	}
	var idx []string
	for seg := range list.children {
		if isIndex(seg) {
			idx = append(idx, seg)
		}
	}
	// Canonical decimals order numerically by length, then by text.
	slices.SortFunc(idx, func(a, b string) int {
		if len(a) != len(b) {
			return len(a) - len(b)
		}
		return strings.Compare(a, b)
	})
	out := make([]*node, 0, len(idx))
	for _, seg := range idx {
		if i, err := strconv.Atoi(seg); err != nil || i > MaxIndex {
			return nil, model.Errorf(model.CodeInvalidParameterValue,
				"The parameter %s is invalid: list indexes run from 1 to %d.", clipValue(list.children[seg].name), MaxIndex)
		}
		out = append(out, list.children[seg])
	}
	return out, nil
}

// isIndex reports whether seg is a canonical positive decimal: digits, no
// leading zero.
func isIndex(seg string) bool {
	if seg == "" || seg[0] == '0' {
		return false
	}
	for i := 0; i < len(seg); i++ {
		if seg[i] < '0' || seg[i] > '9' {
			return false
		}
	}
	return true
}

// Unread returns the names of the request's parameters that no accessor has
// read, in request order. It covers the whole request, whichever view it is
// called on.
func (p *Params) Unread() []string {
	var out []string
	for _, n := range p.form.order {
		if !n.read {
			out = append(out, n.name)
		}
	}
	return out
}

// RejectUnread returns UnknownParameter for the first parameter no accessor
// has read, as EC2 does: "The parameter X is not recognized". Handlers call
// it after reading everything they support.
func (p *Params) RejectUnread() error {
	if u := p.Unread(); len(u) > 0 {
		return model.Errorf(model.CodeUnknownParameter, "The parameter %s is not recognized", clipValue(u[0]))
	}
	return nil
}

// Ignore marks as read every parameter named one of names or nested below
// one ("BlockDeviceMapping" covers BlockDeviceMapping.1.DeviceName): for
// parameters an action accepts and deliberately does nothing with. Names are
// absolute, whichever view Ignore is called on.
func (p *Params) Ignore(names ...string) {
	for _, n := range p.form.order {
		for _, name := range names {
			if n.name == name || strings.HasPrefix(n.name, name+".") {
				n.read = true
			}
		}
	}
}
