package service

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"palisade.dev/palisade/internal/model"
)

const kindFlowLog = model.KeyFlowLog

// ResourceTypeFlowLog is a flow log's type in TagSpecifications.
const ResourceTypeFlowLog = "vpc-flow-log"

// CreateFlowLogsInput is CreateFlowLogs' request.
type CreateFlowLogsInput struct {
	ResourceIDs            []string
	ResourceType           string
	TrafficType            string
	LogDestinationType     string // "" is AWS's default, cloud-watch-logs
	LogDestination         string
	LogFormat              string
	MaxAggregationInterval *int32
	TagSpecifications      []TagSpecification
}

// Unsuccessful is one resource a batch action could not act on, with why.
type Unsuccessful struct {
	ResourceID string
	Err        *model.Error
}

// bucketName is an S3 bucket name (3–63 lowercase letters, digits, dots
// and hyphens, starting and ending with a letter or digit).
var bucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// checkFlowLog validates what CreateFlowLogs' resources share and returns
// the flow log they each get (without scope, ID, resource and VPC).
func checkFlowLog(in CreateFlowLogsInput) (model.FlowLog, error) {
	fl := model.FlowLog{ResourceType: in.ResourceType, TrafficType: in.TrafficType, Format: in.LogFormat,
		Destination: in.LogDestination, MaxAggregationInterval: 600}
	switch {
	case len(in.ResourceIDs) == 0:
		return fl, model.Errorf(model.CodeMissingParameter, "The request must contain the parameter ResourceId")
	case len(in.ResourceIDs) > 1000:
		return fl, model.Errorf(model.CodeInvalidParameter, "The maximum number of resource IDs is 1000")
	case in.ResourceType == "":
		return fl, model.Errorf(model.CodeMissingParameter, "The request must contain the parameter ResourceType")
	case !slices.Contains([]string{model.FlowLogResourceVPC, model.FlowLogResourceSubnet, model.FlowLogResourceENI}, in.ResourceType):
		return fl, model.Errorf(model.CodeInvalidParameterValue,
			"Value (%s) for parameter ResourceType is invalid. Palisade supports VPC, Subnet and NetworkInterface.", in.ResourceType)
	case in.TrafficType == "":
		return fl, model.Errorf(model.CodeMissingParameter, "The request must contain the parameter TrafficType")
	case !slices.Contains([]string{model.TrafficAccept, model.TrafficReject, model.TrafficAll}, in.TrafficType):
		return fl, model.Errorf(model.CodeInvalidParameterValue, "Value (%s) for parameter TrafficType is invalid. Valid values: ACCEPT, REJECT, ALL", in.TrafficType)
	case in.LogDestinationType != "s3":
		t := in.LogDestinationType
		if t == "" {
			t = "cloud-watch-logs"
		}
		return fl, model.Errorf(model.CodeInvalidParameter,
			"LogDestinationType %s is not supported: Palisade writes flow logs to s3 destinations (files under its data directory); set LogDestinationType s3", t)
	}
	if err := checkS3Destination(in.LogDestination); err != nil {
		return fl, err
	}
	if in.MaxAggregationInterval != nil {
		if v := *in.MaxAggregationInterval; v != 60 && v != 600 {
			return fl, model.Errorf(model.CodeInvalidParameter, "Invalid Flow Log Max Aggregation Interval: %d. Valid values: 60, 600", v)
		}
		fl.MaxAggregationInterval = int(*in.MaxAggregationInterval)
	}
	if _, _, err := model.ParseLogFormat(in.LogFormat); err != nil {
		return fl, err
	}
	if fl.Format == "" {
		fl.Format = model.DefaultLogFormat
	}
	return fl, nil
}

func checkS3Destination(arn string) error {
	if arn == "" {
		return model.Errorf(model.CodeMissingParameter, "The request must contain the parameter LogDestination")
	}
	rest, ok := strings.CutPrefix(arn, model.S3ARNPrefix)
	bucket, prefix, _ := strings.Cut(rest, "/")
	if !ok || !bucketName.MatchString(bucket) || strings.Contains(bucket, "..") || strings.Contains(prefix, "..") ||
		strings.HasPrefix(prefix, "AWSLogs") || strings.ContainsAny(prefix, "\\\x00") {
		return model.Errorf(model.CodeInvalidParameter,
			"LogDestination: %s is not a valid S3 ARN (arn:aws:s3:::bucket[/prefix]; the prefix cannot use AWSLogs or ..)", clip(arn))
	}
	return nil
}

func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

// CreateFlowLogs creates one flow log per resource. Resources that do not
// exist, or that have a flow log of the same traffic type to the same
// destination already, are returned as unsuccessful; the others get their
// flow log, all in one transaction.
func (s *Service) CreateFlowLogs(ctx context.Context, c Caller, in CreateFlowLogsInput) ([]model.FlowLogID, []Unsuccessful, error) {
	base, err := checkFlowLog(in)
	if err != nil {
		return nil, nil, err
	}
	tags, err := SpecTags(in.TagSpecifications, ResourceTypeFlowLog)
	if err != nil {
		return nil, nil, err
	}
	var ids []model.FlowLogID
	var bad []Unsuccessful
	err = s.txn(ctx, c, "CreateFlowLogs", func(t *tx) error {
		ids, bad = nil, nil
		have, err := list[model.FlowLog](t, kindFlowLog)
		if err != nil {
			return err
		}
		for _, rid := range in.ResourceIDs {
			vpc, uerr, err := t.flowLogResource(in.ResourceType, rid)
			if err != nil {
				return err
			}
			if uerr == nil && slices.ContainsFunc(have, func(f model.FlowLog) bool {
				return f.ResourceID == rid && f.TrafficType == base.TrafficType && f.Destination == base.Destination
			}) {
				uerr = model.Errorf(model.CodeFlowLogAlreadyExists, "Error. There is an existing Flow Log with the same configuration and log destination.")
			}
			if uerr != nil {
				bad = append(bad, Unsuccessful{ResourceID: rid, Err: uerr})
				continue
			}
			fl := base
			fl.Scope, fl.ID, fl.ResourceID, fl.VPC = c.scope(), model.FlowLogID(s.newID(model.KindFlowLog)), rid, vpc
			fl.Created, fl.Tags = s.now().UTC(), tags[ResourceTypeFlowLog]
			if err := t.put(kindFlowLog, string(fl.ID), &fl); err != nil {
				return err
			}
			have = append(have, fl)
			ids = append(ids, fl.ID)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return ids, bad, nil
}

// flowLogResource finds the VPC of a flow log's resource; a resource that
// does not exist is the user's error (uerr), not the store's (err).
func (t *tx) flowLogResource(typ, id string) (model.VpcID, *model.Error, error) {
	asErr := func(err error) *model.Error {
		var me *model.Error
		if errors.As(err, &me) {
			return me
		}
		return model.Errorf(model.CodeInvalidParameterValue, "%v", err)
	}
	switch typ {
	case model.FlowLogResourceVPC:
		vid, err := model.ParseVpcID(id)
		if err != nil {
			return "", asErr(err), nil
		}
		var v model.VPC
		if ok, err := t.get(kindVPC, string(vid), &v); err != nil || !ok {
			return "", model.KindVPC.NotFound(id), err
		}
		return v.ID, nil, nil
	case model.FlowLogResourceSubnet:
		sid, err := model.ParseSubnetID(id)
		if err != nil {
			return "", asErr(err), nil
		}
		var sn model.Subnet
		if ok, err := t.get(kindSubnet, string(sid), &sn); err != nil || !ok {
			return "", model.KindSubnet.NotFound(id), err
		}
		return sn.VPC, nil, nil
	}
	eid, err := model.ParseENIID(id)
	if err != nil {
		return "", asErr(err), nil
	}
	var e model.ENI
	if ok, err := t.get(kindENI, string(eid), &e); err != nil || !ok {
		return "", model.KindENI.NotFound(id), err
	}
	return e.VPC, nil, nil
}

// DescribeFlowLogsInput is DescribeFlowLogs' request.
type DescribeFlowLogsInput struct {
	IDs     []string
	Filters []Filter // flow-log-id, resource-id, traffic-type, log-destination-type, deliver-log-status, tag:<k>, tag-key
	Page    Page     // MaxResults 1 to 1000
}

// DescribeFlowLogs lists the caller's flow logs.
func (s *Service) DescribeFlowLogs(ctx context.Context, c Caller, in DescribeFlowLogsInput) ([]model.FlowLog, string, error) {
	if err := checkFilters(in.Filters, flowLogFields(&model.FlowLog{})); err != nil {
		return nil, "", err
	}
	for _, id := range in.IDs {
		if _, err := model.ParseFlowLogID(id); err != nil {
			return nil, "", err
		}
	}
	var out []model.FlowLog
	err := s.read(ctx, c, "DescribeFlowLogs", func(t *tx) error {
		all, err := list[model.FlowLog](t, kindFlowLog)
		if err != nil {
			return err
		}
		// AWS lists no error for unknown IDs here: it returns what exists.
		if len(in.IDs) > 0 {
			all = keep(all, func(f *model.FlowLog) bool { return slices.Contains(in.IDs, string(f.ID)) })
		}
		out = keep(all, func(f *model.FlowLog) bool { return matchFilters(in.Filters, flowLogFields(f)) })
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return paginateWithin(out, func(f model.FlowLog) string { return string(f.ID) }, in.Page, 1, 1000)
}

func flowLogFields(f *model.FlowLog) fieldsFunc {
	return func(name string) ([]string, bool) {
		switch name {
		case "flow-log-id":
			return []string{string(f.ID)}, true
		case "resource-id":
			return []string{f.ResourceID}, true
		case "traffic-type":
			return []string{f.TrafficType}, true
		case "log-destination-type":
			return []string{"s3"}, true
		case "deliver-log-status":
			return []string{"SUCCESS"}, true
		case "log-group-name":
			return nil, true
		}
		return tagFields(f.Tags, name)
	}
}

// DeleteFlowLogs deletes flow logs; IDs that name none come back as
// unsuccessful (AWS answers them so, not with an error).
func (s *Service) DeleteFlowLogs(ctx context.Context, c Caller, ids []string) ([]Unsuccessful, error) {
	if len(ids) == 0 {
		return nil, model.Errorf(model.CodeMissingParameter, "The request must contain the parameter FlowLogId")
	}
	for _, id := range ids {
		if _, err := model.ParseFlowLogID(id); err != nil {
			var me *model.Error
			if errors.As(err, &me) && me.Code == model.CodeInvalidFlowLogIDMalformed {
				return nil, err
			}
		}
	}
	var bad []Unsuccessful
	err := s.txn(ctx, c, "DeleteFlowLogs", func(t *tx) error {
		bad = nil
		for _, id := range ids {
			var f model.FlowLog
			ok, err := t.get(kindFlowLog, id, &f)
			if err != nil {
				return err
			}
			if !ok {
				bad = append(bad, Unsuccessful{ResourceID: id, Err: model.KindFlowLog.NotFound(id)})
				continue
			}
			if err := t.del(kindFlowLog, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("delete flow logs: %w", err)
	}
	return bad, nil
}
