package ec2api

import (
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func TestMarshalResponseGolden(t *testing.T) {
	doc, err := MarshalResponse("DescribeSecurityGroups", testRequestID, cannedGroups())
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "describe_security_groups.xml", doc)
}

func TestMarshalResponseSmall(t *testing.T) {
	doc, err := MarshalResponse("DeleteSecurityGroup", testRequestID, &testReturn{Return: true})
	if err != nil {
		t.Fatal(err)
	}
	want := `<?xml version="1.0" encoding="UTF-8"?>
<DeleteSecurityGroupResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
    <requestId>0b0a4d57-00f7-46d1-9be2-4da85221a3db</requestId>
    <return>true</return>
</DeleteSecurityGroupResponse>`
	if string(doc) != want {
		t.Fatalf("got\n%s\nwant\n%s", doc, want)
	}
}

func TestMarshalResponseEmpty(t *testing.T) {
	want := `<?xml version="1.0" encoding="UTF-8"?>
<CreateTagsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
    <requestId>r</requestId>
</CreateTagsResponse>`
	var nilBody *testReturn
	for _, body := range []any{nil, struct{}{}, nilBody} {
		doc, err := MarshalResponse("CreateTags", "r", body)
		if err != nil || string(doc) != want {
			t.Fatalf("%T: %v\n%s", body, err, doc)
		}
	}
	doc, err := MarshalResponse("DescribeSecurityGroups", "r", testDescribeSecurityGroups{})
	if err != nil || !strings.Contains(string(doc), "\n    <securityGroupInfo></securityGroupInfo>\n") {
		t.Fatalf("empty set not rendered: %v\n%s", err, doc)
	}
}

func TestMarshalResponseRejects(t *testing.T) {
	if _, err := MarshalResponse("Bad Action>", "r", nil); err == nil {
		t.Error("bad action accepted")
	}
	if _, err := MarshalResponse("X", "r", 5); err == nil {
		t.Error("non-struct body accepted")
	}
	if _, err := MarshalResponse("X", "r", struct{ C chan int }{}); err == nil {
		t.Error("unencodable body accepted")
	}
}

func TestWriteResponse(t *testing.T) {
	w := httptest.NewRecorder()
	if err := WriteResponse(w, "DeleteSecurityGroup", "r", testReturn{Return: true}); err != nil {
		t.Fatal(err)
	}
	if w.Code != 200 || w.Header().Get("Content-Type") != "text/xml;charset=UTF-8" || !strings.Contains(w.Body.String(), "<return>true</return>") {
		t.Fatalf("%d %v %s", w.Code, w.Header(), w.Body)
	}
}

func TestNewRequestID(t *testing.T) {
	shape := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for range 100 {
		id := NewRequestID()
		if !shape.MatchString(id) || seen[id] {
			t.Fatalf("bad or repeated request id %q", id)
		}
		seen[id] = true
	}
}
