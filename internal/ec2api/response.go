package ec2api

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
)

// Namespace is the XML namespace of EC2 API version 2016-11-15 responses.
const Namespace = "http://ec2.amazonaws.com/doc/" + APIVersion + "/"

const xmlHeader = `<?xml version="1.0" encoding="UTF-8"?>` + "\n"

// indent is EC2's indentation of success responses.
const indent = "    "

// Set is a list as EC2 renders it: the field's element wraps one <item> per
// element, and an empty or nil list still renders its (empty) element, which
// clients decode as an empty list rather than a missing one. Declare a list
// field as
//
//	SecurityGroups Set[SecurityGroup] `xml:"securityGroupInfo"`
type Set[T any] []T

// MarshalXML renders <name><item>…</item>…</name>.
func (s Set[T]) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	if err := e.EncodeToken(start); err != nil {
		return err
	}
	item := xml.StartElement{Name: xml.Name{Local: "item"}}
	for _, v := range s {
		if err := e.EncodeElement(v, item); err != nil {
			return err
		}
	}
	return e.EncodeToken(start.End())
}

// MarshalResponse renders body, a struct whose fields carry encoding/xml
// tags, as the EC2 response to action:
//
//	<?xml version="1.0" encoding="UTF-8"?>
//	<{action}Response xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
//	    <requestId>…</requestId>
//	    …the fields of body…
//	</{action}Response>
//
// body may be nil for a response with nothing but the request ID. Booleans
// render as true/false and integers in decimal, as EC2 renders them; give
// optional values pointer types and `omitempty`, lists the type Set.
func MarshalResponse(action, requestID string, body any) ([]byte, error) {
	if !isActionName(action) {
		return nil, fmt.Errorf("marshal response: invalid action name %q", action)
	}
	buf := xmlBuffers.Get().(*xmlBuffer)
	defer buf.release()
	inner, err := marshalFields(body, buf)
	if err != nil {
		return nil, fmt.Errorf("marshal %s response: %w", action, err)
	}
	var id strings.Builder
	escapeText(&id, requestID)
	b := make([]byte, 0, len(xmlHeader)+2*len(action)+len(Namespace)+id.Len()+len(inner)+64)
	b = append(b, xmlHeader...)
	b = append(b, "<"+action+`Response xmlns="`+Namespace+`">`...)
	b = append(b, "\n"+indent+"<requestId>"...)
	b = append(b, id.String()...)
	b = append(b, "</requestId>"...)
	b = append(b, inner...)
	b = append(b, "\n</"+action+"Response>"...)
	return b, nil
}

// WriteResponse writes body as the 200 response to action. Nothing is
// written when marshalling fails, so the caller can still send an error.
func WriteResponse(w http.ResponseWriter, action, requestID string, body any) error {
	doc, err := MarshalResponse(action, requestID, body)
	if err != nil {
		return err
	}
	writeXML(w, http.StatusOK, requestID, doc)
	return nil
}

// xmlBuffer is where marshalFields renders: the document and the encoder's
// writer over it, recycled through xmlBuffers (a described group is a few
// kilobytes, which growing a fresh buffer allocated twice over).
type xmlBuffer struct {
	doc  bytes.Buffer
	w    *bufio.Writer // over doc; as large as encoding/xml's own, so it uses it
	plan []byte        // where a plan renders (xmlplan.go)
}

var xmlBuffers = sync.Pool{New: func() any {
	b := new(xmlBuffer)
	b.w = bufio.NewWriter(&b.doc)
	return b
}}

// maxPooledXML is the largest document whose buffer goes back to the pool.
const maxPooledXML = 64 << 10

// release returns b to the pool; what it rendered is no longer valid.
func (b *xmlBuffer) release() {
	if b.doc.Cap() > maxPooledXML || cap(b.plan) > maxPooledXML {
		return
	}
	b.plan = b.plan[:0]
	b.doc.Reset()
	b.w.Reset(&b.doc)
	xmlBuffers.Put(b)
}

// marshalFields renders the fields of body as children of the root element,
// indented one level: it encodes body inside a throw-away element and strips
// that element's tags (encoding/xml never self-closes, so they are exact).
// The result lives in buf.
func marshalFields(body any, buf *xmlBuffer) ([]byte, error) {
	if out, ok := planFields(body, buf.plan[:0]); ok {
		buf.plan = out
		return out, nil
	}
	return marshalFieldsXML(body, buf)
}

// marshalFieldsXML is marshalFields through encoding/xml, for the types
// that have no plan.
func marshalFieldsXML(body any, buf *xmlBuffer) ([]byte, error) {
	v := reflect.ValueOf(body)
	for v.Kind() == reflect.Pointer && !v.IsNil() {
		v = v.Elem()
	}
	switch {
	case !v.IsValid() || v.Kind() == reflect.Pointer:
		return nil, nil // nil, or a nil pointer: no fields
	case v.Kind() != reflect.Struct:
		return nil, fmt.Errorf("body of type %T is not a struct", body)
	}
	const open, end = "<x>", "</x>"
	enc := xml.NewEncoder(buf.w)
	enc.Indent("", indent)
	if err := enc.EncodeElement(body, xml.StartElement{Name: xml.Name{Local: "x"}}); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	out := buf.doc.Bytes()
	if !bytes.HasPrefix(out, []byte(open)) || !bytes.HasSuffix(out, []byte(end)) {
		return nil, fmt.Errorf("body of type %T does not render as element content", body)
	}
	return bytes.TrimSuffix(out[len(open):len(out)-len(end)], []byte("\n")), nil
}

// isActionName reports whether s is a plausible Action: ASCII letters and
// digits only, so that it can be spliced into an element name.
func isActionName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
