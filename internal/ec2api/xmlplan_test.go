package ec2api

import (
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// planProbe has every kind a plan renders, and the special cases of
// encoding/xml: omitempty on each, nil and empty sets, pointers, an
// untagged field, a skipped one and an unexported one.
type planProbe struct {
	S       string                   `xml:"s"`
	SO      string                   `xml:"so,omitempty"`
	B       bool                     `xml:"b"`
	BO      bool                     `xml:"bo,omitempty"`
	I       int32                    `xml:"i"`
	IO      int64                    `xml:"io,omitempty"`
	U       uint16                   `xml:"u"`
	UO      uint64                   `xml:"uo,omitempty"`
	PS      *string                  `xml:"ps"`
	PSO     *string                  `xml:"pso,omitempty"`
	PB      *bool                    `xml:"pb,omitempty"`
	Inner   planInner                `xml:"inner"`
	PInner  *planInner               `xml:"pinner,omitempty"`
	Strings Set[string]              `xml:"strings"`
	SetO    Set[string]              `xml:"seto,omitempty"`
	Items   Set[planInner]           `xml:"items"`
	PItems  Set[*planInner]          `xml:"pitems"`
	Empties Set[struct{}]            `xml:"empties"`
	PSet    *Set[planInner]          `xml:"pset,omitempty"`
	Deep    Set[Set[string]]         `xml:"deep"`
	Untag   string                   // rendered as <Untag>
	Skip    string                   `xml:"-"`
	hidden  string                   //nolint:unused // never rendered
	Typed   GroupIDForTest           `xml:"typed"`
	Nested  struct{ A, B string }    `xml:"nested"`
	SetNest Set[struct{ X *string }] `xml:"setnest"`
}

type planInner struct {
	Name  string      `xml:"name"`
	Value *string     `xml:"value,omitempty"`
	Tags  Set[string] `xml:"tags"`
}

type GroupIDForTest string

// TestPlansRenderAsEncodingXML: what a plan renders is byte for byte what
// encoding/xml renders, over random values of every kind (text with
// markup, quotes, controls, invalid UTF-8), and for the real response
// types of the golden files (TestGolden*: each response is compared with
// its file as well).
func TestPlansRenderAsEncodingXML(t *testing.T) {
	if planOf(reflect.TypeFor[planProbe]()) == nil {
		t.Fatal("the probe type has no plan")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 300 {
		var v planProbe
		fill(reflect.ValueOf(&v).Elem(), rng, 0)
		v.hidden = "never"
		checkSame(t, i, &v)
	}
	for _, typ := range []reflect.Type{reflect.TypeFor[securityGroupXML](), reflect.TypeFor[ipPermissionXML](),
		reflect.TypeFor[instanceXML](), reflect.TypeFor[networkInterfaceXML]()} {
		if planOf(typ) == nil {
			t.Fatalf("%v has no plan", typ)
		}
		for i := range 100 {
			v := reflect.New(typ)
			fill(v.Elem(), rng, 0)
			checkSame(t, i, v.Interface())
		}
	}
	// What plans do not cover is left to encoding/xml.
	type withAttr struct {
		A string `xml:"a,attr"`
	}
	type withSlice struct {
		L []string `xml:"l"`
	}
	for _, typ := range []reflect.Type{reflect.TypeFor[withAttr](), reflect.TypeFor[withSlice](), reflect.TypeFor[stsIdentityForTest]()} {
		if planOf(typ) != nil {
			t.Errorf("%v got a plan", typ)
		}
	}
}

type stsIdentityForTest = getCallerIdentityResponse

func checkSame(t *testing.T, i int, body any) {
	t.Helper()
	buf := xmlBuffers.Get().(*xmlBuffer)
	want, err := marshalFieldsXML(body, buf)
	if err != nil {
		t.Fatal(err)
	}
	wantS := string(want)
	buf.release()
	got, ok := planFields(body, nil)
	if !ok {
		t.Fatalf("%T: no plan", body)
	}
	if string(got) != wantS {
		t.Fatalf("value %d of %T:\nplan:\n%s\nencoding/xml:\n%s", i, body, got, wantS)
	}
}

var fillText = []string{"", "plain", "a<b>&c", `"quoted" 'single'`, "tab\there\nnew\rline", "bad\xffutf8", "nul\x00ctl\x01",
	"\uFFFD", "snow ☃ 𝄞", "\x7f", strings.Repeat("x", 40)}

// fill sets v to random content: nil or not, empty or not.
func fill(v reflect.Value, rng *rand.Rand, depth int) {
	if !v.CanSet() {
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(fillText[rng.IntN(len(fillText))])
	case reflect.Bool:
		v.SetBool(rng.IntN(2) == 0)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if rng.IntN(3) > 0 {
			v.SetInt(int64(rng.IntN(200)) - 100)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if rng.IntN(3) > 0 {
			v.SetUint(uint64(rng.IntN(200)))
		}
	case reflect.Pointer:
		if depth < 4 && rng.IntN(3) > 0 {
			p := reflect.New(v.Type().Elem())
			fill(p.Elem(), rng, depth+1)
			v.Set(p)
		}
	case reflect.Slice:
		switch n := rng.IntN(4); {
		case n == 0: // nil
		case depth >= 4:
			v.Set(reflect.MakeSlice(v.Type(), 0, 0))
		default:
			s := reflect.MakeSlice(v.Type(), n-1, n-1)
			for i := range n - 1 {
				fill(s.Index(i), rng, depth+1)
			}
			v.Set(s)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			fill(v.Field(i), rng, depth+1)
		}
	}
}
