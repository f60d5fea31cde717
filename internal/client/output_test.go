package client

import (
	"strings"
	"testing"
)

type testRule struct {
	Protocol string
	Port     int
	Cidrs    []string
}

type testGroup struct {
	GroupId string
	Name    string
	Rules   []testRule
}

func TestPrintJSON(t *testing.T) {
	var b strings.Builder
	v := struct {
		AccountId, AccessKeyId string
	}{"123456789012", "AKIAEXAMPLE"}
	if err := Print(&b, JSON, "ignored", v); err != nil {
		t.Fatal(err)
	}
	want := "{\n    \"AccountId\": \"123456789012\",\n    \"AccessKeyId\": \"AKIAEXAMPLE\"\n}\n"
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestPrintTable(t *testing.T) {
	v := struct {
		Region string
		Groups []testGroup
	}{
		Region: "us-east-1",
		Groups: []testGroup{
			{"sg-1", "web", []testRule{{"tcp", 22, []string{"203.0.113.5/32"}}}},
			{"sg-2", "database tier", nil},
		},
	}
	var b strings.Builder
	if err := Print(&b, Table, "DescribeThings", v); err != nil {
		t.Fatal(err)
	}
	want := `--------------------------
|     DescribeThings     |
+----------+-------------+
|  Region  |  us-east-1  |
+----------+-------------+
-------------------------------
|           Groups            |
+-----------+-----------------+
|  GroupId  |  Name           |
+-----------+-----------------+
|  sg-1     |  web            |
|  sg-2     |  database tier  |
+-----------+-----------------+
-----------------------
|        Rules        |
+------------+--------+
|  Protocol  |  Port  |
+------------+--------+
|  tcp       |  22    |
+------------+--------+
--------------------
|      Cidrs       |
+------------------+
|  203.0.113.5/32  |
+------------------+
`
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestPrintTableScalarsAndWideTitles(t *testing.T) {
	var b strings.Builder
	if err := Print(&b, Table, "A very long title for a tiny value", map[string]int{"n": 1}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	for _, l := range lines {
		if len(l) != len(lines[0]) {
			t.Fatalf("ragged table:\n%s", b.String())
		}
	}
	b.Reset()
	if err := Print(&b, Table, "T", "lonely"); err != nil || !strings.Contains(b.String(), "|  lonely  |") {
		t.Fatalf("%v\n%s", err, b.String())
	}
}

func TestParseFormat(t *testing.T) {
	for _, ok := range []string{"json", "table"} {
		if f, err := ParseFormat(ok); err != nil || string(f) != ok {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "text", "JSON", "yaml"} {
		if _, err := ParseFormat(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
