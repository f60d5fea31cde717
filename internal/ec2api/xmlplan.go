package ec2api

import (
	"encoding"
	"encoding/xml"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// The response bodies are rendered from a plan per type, made once, that
// writes exactly what encoding/xml writes with EC2's indentation, without
// its per-value reflection and token machinery (which was most of the
// cost of rendering a described group). A body whose type uses anything
// the plans do not cover (attributes, XMLName, embedded structs, plain
// slices, interfaces, floats, marshalers other than Set) is rendered by
// encoding/xml itself; TestPlansRenderAsEncodingXML holds the two equal.

// setMarker is implemented by Set: its elements render as <item>s.
type setMarker interface{ isSet() }

func (Set[T]) isSet() {}

// planKind is what a plan renders.
type planKind uint8

const (
	planString planKind = iota
	planBool
	planInt
	planUint
	planPointer // to elem; nil renders nothing
	planSet     // <name><item>elem</item>…</name>
	planStruct  // <name>fields</name>
)

type xmlPlan struct {
	kind   planKind
	elem   *xmlPlan    // planPointer, planSet
	fields []planField // planStruct
}

type planField struct {
	index     int
	name      string
	omitEmpty bool
	plan      *xmlPlan
}

var (
	plans       sync.Map // reflect.Type → *xmlPlan, or nil: encoding/xml renders it
	setType     = reflect.TypeFor[setMarker]()
	marshaler   = reflect.TypeFor[xml.Marshaler]()
	textMarshal = reflect.TypeFor[encoding.TextMarshaler]()
)

// planOf returns the plan of t, nil if encoding/xml must render it.
func planOf(t reflect.Type) *xmlPlan {
	if p, ok := plans.Load(t); ok {
		return p.(*xmlPlan)
	}
	p := buildPlan(t, map[reflect.Type]bool{})
	plans.Store(t, p)
	return p
}

// buildPlan makes the plan of t; seen breaks cycles (a recursive type
// is left to encoding/xml).
func buildPlan(t reflect.Type, seen map[reflect.Type]bool) *xmlPlan {
	if seen[t] {
		return nil
	}
	seen[t] = true
	defer delete(seen, t)
	if t.Kind() == reflect.Pointer {
		elem := buildPlan(t.Elem(), seen)
		if elem == nil || elem.kind == planPointer {
			return nil
		}
		return &xmlPlan{kind: planPointer, elem: elem}
	}
	if t.Implements(setType) && t.Kind() == reflect.Slice {
		elem := buildPlan(t.Elem(), seen)
		if elem == nil {
			return nil
		}
		return &xmlPlan{kind: planSet, elem: elem}
	}
	if t.Implements(marshaler) || t.Implements(textMarshal) ||
		reflect.PointerTo(t).Implements(marshaler) || reflect.PointerTo(t).Implements(textMarshal) {
		return nil
	}
	switch t.Kind() {
	case reflect.String:
		return &xmlPlan{kind: planString}
	case reflect.Bool:
		return &xmlPlan{kind: planBool}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return &xmlPlan{kind: planInt}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return &xmlPlan{kind: planUint}
	case reflect.Struct:
		return structPlan(t, seen)
	}
	return nil
}

func structPlan(t reflect.Type, seen map[reflect.Type]bool) *xmlPlan {
	p := &xmlPlan{kind: planStruct}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("xml")
		if f.Anonymous || f.Name == "XMLName" {
			return nil
		}
		if !f.IsExported() || tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if opts != "" && opts != "omitempty" || strings.ContainsAny(name, " >") {
			return nil
		}
		if name == "" {
			name = f.Name
		}
		fp := buildPlan(f.Type, seen)
		if fp == nil {
			return nil
		}
		p.fields = append(p.fields, planField{index: i, name: name, omitEmpty: opts == "omitempty", plan: fp})
	}
	return p
}

// planWriter renders as encoding/xml's printer does with Indent("",
// indent): the same newlines and depth.
type planWriter struct {
	b          []byte
	depth      int
	indentedIn bool
	putNewline bool
}

func (w *planWriter) writeIndent(delta int) {
	if delta < 0 {
		w.depth--
		if w.indentedIn {
			w.indentedIn = false
			return
		}
	}
	if w.putNewline {
		w.b = append(w.b, '\n')
	} else {
		w.putNewline = true
	}
	for range w.depth {
		w.b = append(w.b, indent...)
	}
	if delta > 0 {
		w.depth++
		w.indentedIn = true
	}
}

func (w *planWriter) start(name string) {
	w.writeIndent(1)
	w.b = append(w.b, '<')
	w.b = append(w.b, name...)
	w.b = append(w.b, '>')
}

func (w *planWriter) end(name string) {
	w.writeIndent(-1)
	w.b = append(w.b, "</"...)
	w.b = append(w.b, name...)
	w.b = append(w.b, '>')
}

// value renders v as element name.
func (w *planWriter) value(v reflect.Value, name string, p *xmlPlan) {
	switch p.kind {
	case planPointer:
		if !v.IsNil() {
			w.value(v.Elem(), name, p.elem)
		}
		return
	case planSet:
		w.start(name)
		for i := range v.Len() {
			w.value(v.Index(i), "item", p.elem)
		}
	case planStruct:
		w.start(name)
		w.fields(v, p)
	case planString:
		w.start(name)
		w.b = appendEscaped(w.b, v.String())
	case planBool:
		w.start(name)
		w.b = strconv.AppendBool(w.b, v.Bool())
	case planInt:
		w.start(name)
		w.b = strconv.AppendInt(w.b, v.Int(), 10)
	case planUint:
		w.start(name)
		w.b = strconv.AppendUint(w.b, v.Uint(), 10)
	}
	w.end(name)
}

// fields renders the fields of struct v.
func (w *planWriter) fields(v reflect.Value, p *xmlPlan) {
	for _, f := range p.fields {
		fv := v.Field(f.index)
		if f.omitEmpty && emptyValue(fv) {
			continue
		}
		w.value(fv, f.name, f.plan)
	}
}

// emptyValue is encoding/xml's omitempty test.
func emptyValue(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Pointer:
		return v.IsZero()
	}
	return false
}

// appendEscaped appends s as encoding/xml's EscapeString writes it.
func appendEscaped(b []byte, s string) []byte {
	last := 0
	for i := 0; i < len(s); {
		r, width := utf8.DecodeRuneInString(s[i:])
		i += width
		var esc string
		switch r {
		case '"':
			esc = "&#34;"
		case '\'':
			esc = "&#39;"
		case '&':
			esc = "&amp;"
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		case '\t':
			esc = "&#x9;"
		case '\n':
			esc = "&#xA;"
		case '\r':
			esc = "&#xD;"
		default:
			if !xmlChar(r) || r == utf8.RuneError && width == 1 {
				esc = "\uFFFD"
				break
			}
			continue
		}
		b = append(b, s[last:i-width]...)
		b = append(b, esc...)
		last = i
	}
	return append(b, s[last:]...)
}

// planFields renders the fields of body (a struct, or a pointer to one) as
// marshalFields does; ok is false if its type has no plan.
func planFields(body any, b []byte) (out []byte, ok bool) {
	v := reflect.ValueOf(body)
	for v.Kind() == reflect.Pointer && !v.IsNil() {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return nil, false
	}
	p := planOf(v.Type())
	if p == nil {
		return nil, false
	}
	// Inside the root element, as encoding/xml leaves its printer after
	// writing <x>.
	w := planWriter{b: b, depth: 1, indentedIn: true, putNewline: true}
	w.fields(v, p)
	return w.b, true
}
