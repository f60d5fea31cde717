package ec2api

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"palisade.dev/palisade/internal/model"
)

func post(body, contentType string) *http.Request {
	r := httptest.NewRequest("POST", "/", strings.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	return r
}

func TestDecodePost(t *testing.T) {
	body := "Action=DescribeSecurityGroups&Version=2016-11-15&GroupId.1=sg-1&GroupId.2=sg-2"
	r := post(body, "application/x-www-form-urlencoded; charset=utf-8")
	q, err := DecodeRequest(r, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if q.Action != "DescribeSecurityGroups" || q.Version != "2016-11-15" || q.CheckVersion(APIVersion) != nil {
		t.Fatalf("%+v", q)
	}
	ids, _ := q.Params.Strings("GroupId")
	if !reflect.DeepEqual(ids, []string{"sg-1", "sg-2"}) || q.Params.RejectUnread() != nil {
		t.Fatalf("ids %q, unread %q", ids, q.Params.Unread())
	}
}

func TestDecodeGetPresigned(t *testing.T) {
	r := httptest.NewRequest("GET", "/?Action=DescribeSecurityGroups&Version=2016-11-15&DryRun=true"+
		"&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=a&X-Amz-Date=d&X-Amz-Expires=60"+
		"&X-Amz-SignedHeaders=host&X-Amz-Signature=s&X-Amz-Security-Token=t", strings.NewReader("Ignored=1"))
	q, err := DecodeRequest(r, []byte("Ignored=1"))
	if err != nil {
		t.Fatal(err)
	}
	if dry, _ := q.Params.Bool("DryRun"); !dry {
		t.Error("DryRun")
	}
	if u := q.Params.Unread(); len(u) != 0 {
		t.Fatalf("unread %q: the SigV4 parameters belong to auth, a GET body is ignored", u)
	}
}

func TestDecodeMergesQueryAndBody(t *testing.T) {
	body := "GroupName=web"
	q, err := DecodeRequest(httptest.NewRequest("POST", "/?Action=CreateSecurityGroup&Version=2016-11-15", strings.NewReader(body)), []byte(body))
	if err != nil || q.Action != "CreateSecurityGroup" || q.Params.String("GroupName") != "web" {
		t.Fatalf("%+v, %v", q, err)
	}
	body = "Action=CreateSecurityGroup"
	_, err = DecodeRequest(httptest.NewRequest("POST", "/?Action=DeleteSecurityGroup", strings.NewReader(body)), []byte(body))
	wantCode(t, err, model.CodeInvalidParameterValue)
}

func TestDecodeErrors(t *testing.T) {
	_, err := DecodeRequest(post("Version=2016-11-15", ""), []byte("Version=2016-11-15"))
	wantCode(t, err, model.CodeMissingAction)
	if err.(*model.Error).Message != "The request must contain the parameter Action" {
		t.Errorf("message %q", err)
	}
	_, err = DecodeRequest(post("Action=", ""), []byte("Action="))
	wantCode(t, err, model.CodeMissingAction)
	_, err = DecodeRequest(post(`{"Action":"X"}`, "application/json"), []byte(`{"Action":"X"}`))
	wantCode(t, err, model.CodeInvalidParameterValue)
	_, err = DecodeRequest(post("Action=X&A=%", ""), []byte("Action=X&A=%"))
	wantCode(t, err, model.CodeInvalidParameterValue)
}

func TestCheckVersion(t *testing.T) {
	err := (&Request{Action: "X"}).CheckVersion(APIVersion)
	wantCode(t, err, model.CodeMissingParameter)
	err = (&Request{Action: "X", Version: "2014-10-01"}).CheckVersion(APIVersion)
	wantCode(t, err, model.CodeNoSuchVersion)
	if !strings.Contains(err.Error(), "(2014-10-01)") {
		t.Errorf("message %v", err)
	}
}
