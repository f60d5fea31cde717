package ec2api

import (
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"palisade.dev/palisade/internal/model"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const testRequestID = "0b0a4d57-00f7-46d1-9be2-4da85221a3db"

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Fatalf("%s differs:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// TestEncodeErrorMatchesAWS reproduces, byte for byte, a real EC2 error body
// (quoted in docs/aws-semantics.md#wire-protocol from galaxyproject/cloudlaunch#56).
func TestEncodeErrorMatchesAWS(t *testing.T) {
	err := model.Errorf(model.CodeInvalidPermissionDuplicate,
		`the specified rule "peer: sg-8b3b99f3, TCP, from port: 0, to port: 65535, ALLOW" already exists`)
	status, body := EncodeError(fmt.Errorf("authorize ingress: %w", err), testRequestID)
	want := `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<Response><Errors><Error><Code>InvalidPermission.Duplicate</Code><Message>the specified rule "peer: sg-8b3b99f3, TCP, ` +
		`from port: 0, to port: 65535, ALLOW" already exists</Message></Error></Errors><RequestID>0b0a4d57-00f7-46d1-9be2-4da85221a3db</RequestID></Response>`
	if status != 400 || string(body) != want {
		t.Fatalf("status %d, body:\n%s", status, body)
	}
	golden(t, "error_invalid_permission_duplicate.xml", body)
}

func TestEncodeErrorEscapes(t *testing.T) {
	msg := "name '<b>&amp;</b>' \"q\"\r\nnext\x01\x7f\xff end\U0001F600"
	_, body := EncodeError(model.Errorf(model.CodeInvalidParameterValue, "%s", msg), "id<&>")
	want := "<Message>name '&lt;b&gt;&amp;amp;&lt;/b&gt;' \"q\"&#xD;\nnext\uFFFD\x7f\uFFFD end\U0001F600</Message>"
	if !strings.Contains(string(body), want) || !strings.Contains(string(body), "<RequestID>id&lt;&amp;&gt;</RequestID>") {
		t.Fatalf("body:\n%q", body)
	}
}

func TestEncodeErrorHidesInternals(t *testing.T) {
	for _, err := range []error{
		errors.New("bbolt: /var/lib/palisade/db: disk on fire"),
		fmt.Errorf("wrapped: %w", errors.New("secret detail")),
		&model.Error{Message: "no code"},
	} {
		status, body := EncodeError(err, testRequestID)
		want := "<Code>InternalError</Code><Message>An internal error has occurred</Message>"
		if status != 500 || !strings.Contains(string(body), want) {
			t.Fatalf("%v: status %d, body %s", err, status, body)
		}
	}
}

func TestStatus(t *testing.T) {
	cases := map[string]int{
		model.CodeDryRunOperation:            412,
		model.CodeAuthFailure:                401,
		model.CodeSignatureDoesNotMatch:      403,
		model.CodeMissingAuthenticationToken: 403,
		model.CodeUnauthorizedOperation:      403,
		model.CodeIncompleteSignature:        400,
		model.CodeRequestExpired:             400,
		model.CodeUnavailable:                503,
		model.CodeServiceUnavailable:         503,
		model.CodeRequestLimitExceeded:       503,
		model.CodeInternalError:              500,
		model.CodeInvalidGroupNotFound:       400,
		model.CodeInvalidParameterValue:      400,
		model.CodeUnknownParameter:           400,
		model.CodeMissingAction:              400,
		model.CodeInvalidAction:              400,
		model.CodeRulesPerGroupLimitExceeded: 400,
	}
	for code, want := range cases {
		if got := Status(code); got != want {
			t.Errorf("Status(%s) = %d, want %d", code, got, want)
		}
	}
}

func TestWriteError(t *testing.T) {
	w := httptest.NewRecorder()
	status := WriteError(w, model.Errorf(model.CodeDryRunOperation, "Request would have succeeded, but DryRun flag is set."), testRequestID)
	if status != http.StatusPreconditionFailed || w.Code != status {
		t.Fatalf("status %d / %d", status, w.Code)
	}
	if ct := w.Header().Get("Content-Type"); ct != "text/xml;charset=UTF-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if id := w.Header().Get("X-Amzn-Requestid"); id != testRequestID {
		t.Errorf("request id header %q", id)
	}
	golden(t, "error_dry_run.xml", w.Body.Bytes())
}

func TestUnknownAction(t *testing.T) {
	e := UnknownAction("DescribeUnicorns")
	if e.Code != "InvalidAction" || e.Message != "The action DescribeUnicorns is not valid for this web service." {
		t.Fatalf("%+v", e)
	}
}
