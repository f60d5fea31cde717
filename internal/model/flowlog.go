package model

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// FlowLog records the flows of the interfaces of a VPC, a subnet or one
// interface (CreateFlowLogs). Its configuration never changes: AWS has no
// ModifyFlowLogs beyond tags; delete and create again.
type FlowLog struct {
	Scope
	ID           FlowLogID `json:"id"`
	ResourceType string    `json:"resourceType"` // FlowLogResourceVPC, …Subnet, …ENI
	ResourceID   string    `json:"resourceId"`
	// VPC is the VPC of the resource: the agent of the VPC's router writes
	// the records.
	VPC         VpcID  `json:"vpc"`
	TrafficType string `json:"trafficType"` // ACCEPT, REJECT or ALL
	// Destination is the S3 ARN: arn:aws:s3:::BUCKET[/PREFIX].
	Destination string `json:"destination"`
	// Format is the LogFormat, "${field} ${field} …".
	Format string `json:"format"`
	// MaxAggregationInterval is 60 or 600 (seconds).
	MaxAggregationInterval int       `json:"maxAggregationInterval"`
	Created                time.Time `json:"created"`
	Tags                   Tags      `json:"tags,omitempty"`
}

// FlowLogID is a flow log's ID: fl-….
type FlowLogID string

// ParseFlowLogID parses a flow log ID.
func ParseFlowLogID(s string) (FlowLogID, error) {
	v, err := ParseID(KindFlowLog, s)
	return FlowLogID(v), err
}

// Resource types a flow log may watch.
const (
	FlowLogResourceVPC    = "VPC"
	FlowLogResourceSubnet = "Subnet"
	FlowLogResourceENI    = "NetworkInterface"
)

// Traffic types: which records a flow log keeps.
const (
	TrafficAccept = "ACCEPT"
	TrafficReject = "REJECT"
	TrafficAll    = "ALL"
)

// Covers reports whether the flow log watches interface e.
func (f *FlowLog) Covers(e *ENI) bool {
	switch f.ResourceType {
	case FlowLogResourceVPC:
		return string(e.VPC) == f.ResourceID
	case FlowLogResourceSubnet:
		return string(e.Subnet) == f.ResourceID
	case FlowLogResourceENI:
		return string(e.ID) == f.ResourceID
	}
	return false
}

// Keeps reports whether the flow log keeps a record of action ("ACCEPT" or
// "REJECT").
func (f *FlowLog) Keeps(action string) bool {
	return f.TrafficType == TrafficAll || f.TrafficType == action
}

// Bucket and prefix of the destination ARN (checked when the flow log was
// created).
func (f *FlowLog) Bucket() (bucket, prefix string) {
	rest := strings.TrimPrefix(f.Destination, S3ARNPrefix)
	bucket, prefix, _ = strings.Cut(rest, "/")
	return bucket, strings.Trim(prefix, "/")
}

// S3ARNPrefix starts every S3 destination.
const S3ARNPrefix = "arn:aws:s3:::"

// DefaultLogFormat is AWS's default format (version 2, 14 fields).
const DefaultLogFormat = "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} " +
	"${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status}"

// Palisade's own fields, beyond AWS's.
const (
	FieldRuleIDs    = "security-group-rule-ids"
	FieldRejectSide = "reject-side"
)

// flowFields are the fields a LogFormat may use, with the version of AWS's
// record format that introduced each (0: Palisade's own).
var flowFields = map[string]int{
	"version": 2, "account-id": 2, "interface-id": 2, "srcaddr": 2, "dstaddr": 2, "srcport": 2, "dstport": 2,
	"protocol": 2, "packets": 2, "bytes": 2, "start": 2, "end": 2, "action": 2, "log-status": 2,
	"vpc-id": 3, "subnet-id": 3, "instance-id": 3, "tcp-flags": 3, "type": 3, "pkt-srcaddr": 3, "pkt-dstaddr": 3,
	"region": 4, "az-id": 4, "sublocation-type": 4, "sublocation-id": 4,
	"pkt-src-aws-service": 5, "pkt-dst-aws-service": 5, "flow-direction": 5, "traffic-path": 5,
	FieldRuleIDs: 0, FieldRejectSide: 0,
}

// ParseLogFormat reads a LogFormat ("" is DefaultLogFormat): fields as
// ${name}, separated by spaces. It returns the field names, and the
// record version (the highest version of AWS's fields used).
func ParseLogFormat(format string) (fields []string, version int, err error) {
	if format == "" {
		format = DefaultLogFormat
	}
	for _, tok := range strings.Fields(format) {
		name, ok := strings.CutPrefix(tok, "${")
		name, ok2 := strings.CutSuffix(name, "}")
		v, known := flowFields[name]
		if !ok || !ok2 || !known {
			return nil, 0, Errorf(CodeInvalidParameter, "Unknown fields provided: [%s]", tok)
		}
		if slices.Contains(fields, name) {
			return nil, 0, Errorf(CodeInvalidParameter, "Duplicate fields provided: [%s]", tok)
		}
		fields = append(fields, name)
		version = max(version, v)
	}
	if len(fields) == 0 {
		return nil, 0, Errorf(CodeInvalidParameter, "LogFormat must contain at least one field")
	}
	return fields, max(version, 2), nil
}

// FlowRecord is one record of a flow log: one flow (in one direction) of
// one interface in one aggregation window.
type FlowRecord struct {
	Version          int
	Account          AccountID
	Region, Zone     string
	ENI              ENIID
	VPC              VpcID
	Subnet           SubnetID
	Instance         InstanceID
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	Proto            Proto
	Packets, Bytes   uint64
	Start, End       time.Time
	Action           string // ACCEPT or REJECT
	LogStatus        string // OK, NODATA or SKIPDATA
	// Direction is the flow's as the interface sees it: Ingress when the
	// interface receives the first packet.
	Direction Direction
	// Rules allowed the flow (both sides, sender's first); RejectSide is
	// "egress" or "ingress" for a REJECT.
	Rules      []RuleID
	RejectSide string
	// Seq orders the records the agent shows live (palisade flows): a
	// flow's record at its first packet and its update at the end of the
	// window share Flow, the later one has the higher Seq.
	Seq  uint64
	Flow string
}

// Field renders one field of the record as AWS does ("-" for none).
func (r *FlowRecord) Field(name string) string {
	if r.LogStatus != "" && r.LogStatus != "OK" && !slices.Contains([]string{"version", "account-id", "interface-id",
		"start", "end", "log-status"}, name) {
		return "-"
	}
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	str := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	switch name {
	case "version":
		return strconv.Itoa(r.Version)
	case "account-id":
		return string(r.Account)
	case "interface-id":
		return str(string(r.ENI))
	case "srcaddr", "pkt-srcaddr":
		return r.Src.String()
	case "dstaddr", "pkt-dstaddr":
		return r.Dst.String()
	case "srcport":
		return u(uint64(r.SrcPort))
	case "dstport":
		return u(uint64(r.DstPort))
	case "protocol":
		return u(uint64(r.Proto))
	case "packets":
		return u(r.Packets)
	case "bytes":
		return u(r.Bytes)
	case "start":
		return strconv.FormatInt(r.Start.Unix(), 10)
	case "end":
		return strconv.FormatInt(r.End.Unix(), 10)
	case "action":
		return r.Action
	case "log-status":
		return str(r.LogStatus)
	case "vpc-id":
		return str(string(r.VPC))
	case "subnet-id":
		return str(string(r.Subnet))
	case "instance-id":
		return str(string(r.Instance))
	case "type":
		if r.Src.Is6() {
			return "IPv6"
		}
		return "IPv4"
	case "region":
		return str(r.Region)
	case "az-id":
		return str(r.Zone)
	case "flow-direction":
		return str(r.Direction.String())
	case FieldRuleIDs:
		if len(r.Rules) == 0 {
			return "-"
		}
		ids := make([]string, len(r.Rules))
		for i, id := range r.Rules {
			ids[i] = string(id)
		}
		return strings.Join(ids, ",")
	case FieldRejectSide:
		return str(r.RejectSide)
	}
	return "-" // tcp-flags, sublocation-*, pkt-*-aws-service, traffic-path: nothing to say in the lab
}

// Line renders the record in the fields given, space-separated.
func (r *FlowRecord) Line(fields []string) string {
	out := make([]string, len(fields))
	for i, f := range fields {
		out[i] = r.Field(f)
	}
	return strings.Join(out, " ")
}

// RuleHits are a rule's hit counters: the packets and bytes of the flows
// it allowed, and the last time it allowed a first packet.
type RuleHits struct {
	Packets uint64    `json:"packets"`
	Bytes   uint64    `json:"bytes"`
	LastHit time.Time `json:"lastHit,omitzero"`
}

// Add sums two counters (of two interfaces or hosts).
func (h RuleHits) Add(o RuleHits) RuleHits {
	h.Packets += o.Packets
	h.Bytes += o.Bytes
	if o.LastHit.After(h.LastHit) {
		h.LastHit = o.LastHit
	}
	return h
}

// GroupHits is the value of a hits key (HitsKey): one host's counters of
// a group's rules, by rule.
type GroupHits map[RuleID]RuleHits
