package model

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestParseLogFormat(t *testing.T) {
	for _, c := range []struct {
		format  string
		fields  int
		version int
		err     string
	}{
		{"", 14, 2, ""},
		{"${version} ${srcaddr} ${vpc-id}", 3, 3, ""},
		{"${flow-direction} ${security-group-rule-ids} ${reject-side}", 3, 5, ""},
		{"${security-group-rule-ids}", 1, 2, ""},
		{"${version} ${nope}", 0, 0, "Unknown fields provided: [${nope}]"},
		{"${version} version", 0, 0, "Unknown fields provided: [version]"},
		{"${srcaddr} ${srcaddr}", 0, 0, "Duplicate fields"},
		{"   ", 0, 0, "at least one field"},
	} {
		fields, version, err := ParseLogFormat(c.format)
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err) || CodeOf(err) != CodeInvalidParameter):
			t.Errorf("%q: err %v, want InvalidParameter %q", c.format, err, c.err)
		case c.err == "" && (err != nil || len(fields) != c.fields || version != c.version):
			t.Errorf("%q: %v %d %v, want %d fields, version %d", c.format, fields, version, err, c.fields, c.version)
		}
	}
}

func TestFlowRecordLine(t *testing.T) {
	start := time.Unix(1764676800, 0)
	r := FlowRecord{Version: 2, Account: "123456789012", ENI: "eni-0123456789abcdef0", Src: netip.MustParseAddr("203.0.113.5"),
		Dst: netip.MustParseAddr("10.0.1.4"), SrcPort: 40000, DstPort: 22, Proto: ProtoTCP, Packets: 10, Bytes: 840,
		Start: start, End: start.Add(time.Minute), Action: "ACCEPT", LogStatus: "OK", Direction: Ingress,
		Rules: []RuleID{"sgr-0000000000000000a", "sgr-0000000000000000b"}}
	fields, _, _ := ParseLogFormat("")
	want := "2 123456789012 eni-0123456789abcdef0 203.0.113.5 10.0.1.4 40000 22 6 10 840 1764676800 1764676860 ACCEPT OK"
	if got := r.Line(fields); got != want {
		t.Errorf("default format:\n got %s\nwant %s", got, want)
	}
	ours := []string{FieldRuleIDs, FieldRejectSide, "flow-direction", "type", "tcp-flags"}
	if got := r.Line(ours); got != "sgr-0000000000000000a,sgr-0000000000000000b - ingress IPv4 -" {
		t.Errorf("Palisade's fields: %s", got)
	}
	r.Action, r.Rules, r.RejectSide = "REJECT", nil, "egress"
	if got := r.Line(ours[:2]); got != "- egress" {
		t.Errorf("a REJECT: %s", got)
	}
	skip := FlowRecord{Version: 2, Account: "123456789012", ENI: "eni-0123456789abcdef0", Start: start, End: start, LogStatus: "SKIPDATA"}
	if got := skip.Line(fields); got != "2 123456789012 eni-0123456789abcdef0 - - - - - - - 1764676800 1764676800 - SKIPDATA" {
		t.Errorf("SKIPDATA: %s", got)
	}
}

func TestFlowLogCovers(t *testing.T) {
	e := &ENI{ID: "eni-1", VPC: "vpc-1", Subnet: "subnet-1"}
	for _, c := range []struct {
		typ, id string
		want    bool
	}{
		{FlowLogResourceVPC, "vpc-1", true}, {FlowLogResourceVPC, "vpc-2", false},
		{FlowLogResourceSubnet, "subnet-1", true}, {FlowLogResourceENI, "eni-1", true}, {FlowLogResourceENI, "eni-2", false},
	} {
		f := FlowLog{ResourceType: c.typ, ResourceID: c.id}
		if f.Covers(e) != c.want {
			t.Errorf("%s %s covers %s: %v", c.typ, c.id, e.ID, !c.want)
		}
	}
	f := FlowLog{Destination: "arn:aws:s3:::bucket/a/b/", TrafficType: TrafficReject}
	if b, p := f.Bucket(); b != "bucket" || p != "a/b" {
		t.Errorf("Bucket: %q %q", b, p)
	}
	if f.Keeps("ACCEPT") || !f.Keeps("REJECT") {
		t.Errorf("REJECT flow log keeps the wrong records")
	}
}
