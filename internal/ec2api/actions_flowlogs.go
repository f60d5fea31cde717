package ec2api

import (
	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/service"
)

// flowLogActions serve EC2's flow logs (to s3 destinations: files under
// the data directory).
func flowLogActions() Table {
	return Table{
		"CreateFlowLogs":   Action(parseCreateFlowLogs, runCreateFlowLogs),
		"DescribeFlowLogs": Action(parseDescribe("FlowLogId"), runDescribeFlowLogs),
		"DeleteFlowLogs":   Action(func(p *Params) ([]string, error) { return p.Strings("FlowLogId") }, runDeleteFlowLogs),
	}
}

func parseCreateFlowLogs(p *Params) (service.CreateFlowLogsInput, error) {
	in := service.CreateFlowLogsInput{ResourceType: p.String("ResourceType"), TrafficType: p.String("TrafficType"),
		LogDestinationType: p.String("LogDestinationType"), LogDestination: p.String("LogDestination"),
		LogFormat: p.String("LogFormat")}
	var err error
	if in.ResourceIDs, err = p.Strings("ResourceId"); err != nil {
		return in, err
	}
	if in.MaxAggregationInterval, err = p.OptInt32("MaxAggregationInterval"); err != nil {
		return in, err
	}
	// Read and refused when set: CloudWatch Logs and other accounts are not there.
	for _, name := range []string{"DeliverLogsPermissionArn", "DeliverCrossAccountRole", "LogGroupName"} {
		if v, ok := p.OptString(name); ok && v != "" {
			return in, model.Errorf(model.CodeInvalidParameter, "%s is not supported: Palisade writes flow logs to s3 destinations only", name)
		}
	}
	if err := readDestinationOptions(p); err != nil {
		return in, err
	}
	p.Ignore("ClientToken")
	in.TagSpecifications, err = readRawTagSpecs(p)
	return in, err
}

// readDestinationOptions accepts the options that describe what Palisade
// writes (plain text, AWS's default key layout) and refuses the others.
func readDestinationOptions(p *Params) error {
	if f, ok := p.OptString("DestinationOptions.FileFormat"); ok && f != "plain-text" {
		return model.Errorf(model.CodeInvalidParameter, "DestinationOptions.FileFormat %s is not supported: Palisade writes plain-text", clipValue(f))
	}
	for _, name := range []string{"DestinationOptions.HiveCompatiblePartitions", "DestinationOptions.PerHourPartition"} {
		v, err := p.OptBool(name)
		if err != nil {
			return err
		}
		if v != nil && *v {
			return model.Errorf(model.CodeInvalidParameter, "%s is not supported: Palisade writes AWS's default key layout", name)
		}
	}
	return nil
}

type unsuccessfulXML struct {
	Error struct {
		Code    string `xml:"code"`
		Message string `xml:"message"`
	} `xml:"error"`
	ResourceID string `xml:"resourceId"`
}

func unsuccessfulSet(bad []service.Unsuccessful) Set[unsuccessfulXML] {
	out := make(Set[unsuccessfulXML], len(bad))
	for i, b := range bad {
		out[i].ResourceID, out[i].Error.Code, out[i].Error.Message = b.ResourceID, b.Err.Code, b.Err.Message
	}
	return out
}

func runCreateFlowLogs(c *Call, in service.CreateFlowLogsInput) (any, error) {
	ids, bad, err := c.Service.CreateFlowLogs(c.Ctx, c.Caller, in)
	if err != nil {
		return nil, err
	}
	out := struct {
		ClientToken  string               `xml:"clientToken,omitempty"`
		FlowLogIDs   Set[string]          `xml:"flowLogIdSet"`
		Unsuccessful Set[unsuccessfulXML] `xml:"unsuccessful"`
	}{ClientToken: c.Params.String("ClientToken"), FlowLogIDs: Set[string]{}, Unsuccessful: unsuccessfulSet(bad)}
	for _, id := range ids {
		out.FlowLogIDs = append(out.FlowLogIDs, string(id))
	}
	return out, nil
}

type flowLogXML struct {
	CreationTime           string      `xml:"creationTime"`
	DeliverLogsStatus      string      `xml:"deliverLogsStatus"`
	FlowLogID              string      `xml:"flowLogId"`
	FlowLogStatus          string      `xml:"flowLogStatus"`
	ResourceID             string      `xml:"resourceId"`
	TrafficType            string      `xml:"trafficType"`
	LogDestinationType     string      `xml:"logDestinationType"`
	LogDestination         string      `xml:"logDestination"`
	LogFormat              string      `xml:"logFormat"`
	Tags                   Set[tagXML] `xml:"tagSet"`
	MaxAggregationInterval int         `xml:"maxAggregationInterval"`
	DestinationOptions     struct {
		FileFormat               string `xml:"fileFormat"`
		HiveCompatiblePartitions bool   `xml:"hiveCompatiblePartitions"`
		PerHourPartition         bool   `xml:"perHourPartition"`
	} `xml:"destinationOptions"`
}

func runDescribeFlowLogs(c *Call, in describeInput) (any, error) {
	logs, next, err := c.Service.DescribeFlowLogs(c.Ctx, c.Caller, service.DescribeFlowLogsInput(in))
	if err != nil {
		return nil, err
	}
	out := struct {
		FlowLogs  Set[flowLogXML] `xml:"flowLogSet"`
		NextToken string          `xml:"nextToken,omitempty"`
	}{FlowLogs: make(Set[flowLogXML], len(logs)), NextToken: next}
	for i, f := range logs {
		x := flowLogXML{CreationTime: wireTime(f.Created), DeliverLogsStatus: "SUCCESS", FlowLogID: string(f.ID),
			FlowLogStatus: "ACTIVE", ResourceID: f.ResourceID, TrafficType: f.TrafficType, LogDestinationType: "s3",
			LogDestination: f.Destination, LogFormat: f.Format, Tags: tagSet(f.Tags), MaxAggregationInterval: f.MaxAggregationInterval}
		x.DestinationOptions.FileFormat = "plain-text"
		out.FlowLogs[i] = x
	}
	return out, nil
}

func runDeleteFlowLogs(c *Call, ids []string) (any, error) {
	bad, err := c.Service.DeleteFlowLogs(c.Ctx, c.Caller, ids)
	if err != nil {
		return nil, err
	}
	return struct {
		Unsuccessful Set[unsuccessfulXML] `xml:"unsuccessful"`
	}{unsuccessfulSet(bad)}, nil
}
