package service

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"palisade.dev/palisade/internal/model"
)

// oneAttribute enforces AWS's "you can specify only one attribute at a
// time" for the Modify*Attribute actions.
func oneAttribute(given ...bool) error {
	n := 0
	for _, g := range given {
		if g {
			n++
		}
	}
	switch {
	case n == 0:
		return model.Errorf(model.CodeMissingParameter, "The request must contain an attribute to modify")
	case n > 1:
		return model.Errorf(model.CodeInvalidParameterCombination, "Only one attribute can be modified at a time")
	}
	return nil
}

// ModifyNetworkInterfaceAttributeInput is ModifyNetworkInterfaceAttribute's
// request: one attribute per call.
type ModifyNetworkInterfaceAttributeInput struct {
	NetworkInterfaceID string
	GroupIDs           []string // SecurityGroupId.N: replaces the set (IDs only)
	Description        *string
	SourceDestCheck    *bool
	// Conntrack sets the timeouts it gives (non-zero fields); the others
	// keep their values.
	Conntrack *model.ConntrackTimeouts
	// DeleteOnTermination of the attachment AttachmentID (Attachment.*).
	AttachmentID        string
	DeleteOnTermination *bool
}

// ModifyNetworkInterfaceAttribute changes one attribute of an interface.
// New groups must exist in the interface's VPC (else InvalidGroup.NotFound,
// "…belong to different networks" for another VPC's group) and number at
// most cfg.MaxGroupsPerInterface (SecurityGroupsPerInterfaceLimitExceeded).
func (s *Service) ModifyNetworkInterfaceAttribute(ctx context.Context, c Caller, in ModifyNetworkInterfaceAttributeInput) error {
	eid, err := model.ParseENIID(in.NetworkInterfaceID)
	if err != nil {
		return err
	}
	if err := oneAttribute(len(in.GroupIDs) > 0, in.Description != nil, in.SourceDestCheck != nil, in.Conntrack != nil, in.DeleteOnTermination != nil); err != nil {
		return err
	}
	switch {
	case in.Description != nil:
		err = checkENIDescription(*in.Description)
	case in.Conntrack != nil:
		err = model.CheckConntrackTimeouts(*in.Conntrack)
	case in.DeleteOnTermination != nil && in.AttachmentID == "":
		err = model.Errorf(model.CodeMissingParameter, "The request must contain the parameter attachmentId")
	}
	if err != nil {
		return err
	}
	return s.txn(ctx, c, "ModifyNetworkInterfaceAttribute", func(t *tx) error {
		e, err := t.eniRec(eid)
		if err != nil {
			return err
		}
		if err := t.modifyENI(e, in); err != nil {
			return err
		}
		return t.putENI(e)
	})
}

func (t *tx) modifyENI(e *eniRecord, in ModifyNetworkInterfaceAttributeInput) error {
	switch {
	case len(in.GroupIDs) > 0:
		groups, err := t.interfaceGroups(&model.Subnet{ID: e.Subnet, VPC: e.VPC}, in.GroupIDs, groupsModify)
		if err != nil {
			return err
		}
		e.Groups = groups
	case in.Description != nil:
		e.Description = *in.Description
	case in.SourceDestCheck != nil:
		e.SourceDestCheckOff = !*in.SourceDestCheck
	case in.Conntrack != nil:
		e.Conntrack = mergeConntrack(e.Conntrack, *in.Conntrack)
	default:
		if e.Attachment == nil || string(e.Attachment.ID) != in.AttachmentID {
			if _, err := model.ParseID(model.KindAttachment, in.AttachmentID); err != nil {
				return err
			}
			return model.KindAttachment.NotFound(in.AttachmentID)
		}
		e.Attachment.DeleteOnTermination = *in.DeleteOnTermination
	}
	return nil
}

func mergeConntrack(have, set model.ConntrackTimeouts) model.ConntrackTimeouts {
	if set.TCPEstablished != 0 {
		have.TCPEstablished = set.TCPEstablished
	}
	if set.UDPStream != 0 {
		have.UDPStream = set.UDPStream
	}
	if set.UDP != 0 {
		have.UDP = set.UDP
	}
	return have
}

// NetworkInterfaceAttribute is DescribeNetworkInterfaceAttribute's answer:
// the interface ID and the one attribute asked for.
type NetworkInterfaceAttribute struct {
	NetworkInterfaceID model.ENIID
	Attribute          string // description | groupSet | sourceDestCheck | attachment
	Description        string
	GroupSet           []GroupIdentifier
	SourceDestCheck    bool
	Attachment         *model.Attachment // nil when not attached
}

var eniAttributes = []string{"description", "groupSet", "sourceDestCheck", "attachment"}

// DescribeNetworkInterfaceAttribute describes one attribute of an
// interface.
func (s *Service) DescribeNetworkInterfaceAttribute(ctx context.Context, c Caller, id, attribute string) (*NetworkInterfaceAttribute, error) {
	eid, err := model.ParseENIID(id)
	if err != nil {
		return nil, err
	}
	if attribute == "" {
		return nil, model.Errorf(model.CodeMissingParameter, "The request must contain the parameter attribute")
	}
	if !slices.Contains(eniAttributes, attribute) {
		return nil, unknownAttribute(attribute)
	}
	var out *NetworkInterfaceAttribute
	err = s.read(ctx, c, "DescribeNetworkInterfaceAttribute", func(t *tx) error {
		e, err := t.eniRec(eid)
		if err != nil {
			return err
		}
		names, err := t.groupNames(e.Groups)
		if err != nil {
			return err
		}
		v := e.view(names)
		out = &NetworkInterfaceAttribute{NetworkInterfaceID: eid, Attribute: attribute, Description: v.Description,
			GroupSet: v.GroupSet, SourceDestCheck: v.SourceDestCheck, Attachment: v.Attachment}
		return nil
	})
	return out, err
}

func unknownAttribute(name string) error {
	return model.Errorf(model.CodeInvalidParameterValue, "Value (%s) for parameter attribute is invalid. Unknown attribute.", name)
}

// ModifyInstanceAttributeInput is ModifyInstanceAttribute's request: one
// attribute per call.
type ModifyInstanceAttributeInput struct {
	InstanceID            string
	GroupIDs              []string // GroupId.N: replaces the groups of the primary interface
	InstanceType          *string  // only while stopped
	SourceDestCheck       *bool    // of the primary interface
	UserData              *string  // base64; only while stopped
	DisableAPITermination *bool
	DisableAPIStop        *bool
	ShutdownBehavior      *string // stop or terminate
}

// ModifyInstanceAttribute changes one attribute of an instance. Groups
// belong to interfaces: GroupId.N replaces the groups of the primary
// interface, and an instance with several interfaces is InvalidInstanceID
// (the caller must name an interface), as on AWS.
func (s *Service) ModifyInstanceAttribute(ctx context.Context, c Caller, in ModifyInstanceAttributeInput) error {
	iid, err := model.ParseInstanceID(in.InstanceID)
	if err != nil {
		return err
	}
	if err := oneAttribute(len(in.GroupIDs) > 0, in.InstanceType != nil, in.SourceDestCheck != nil,
		in.UserData != nil, in.DisableAPITermination != nil, in.DisableAPIStop != nil, in.ShutdownBehavior != nil); err != nil {
		return err
	}
	if in.UserData != nil {
		if err := checkUserData(*in.UserData); err != nil {
			return err
		}
	}
	if in.ShutdownBehavior != nil {
		if err := checkShutdownBehavior(*in.ShutdownBehavior); err != nil {
			return err
		}
	}
	if in.InstanceType != nil && !validInstanceType(*in.InstanceType) {
		return model.Errorf(model.CodeInvalidParameterValue, "Invalid value '%s' for InstanceType.", *in.InstanceType)
	}
	return s.txn(ctx, c, "ModifyInstanceAttribute", func(t *tx) error {
		r, err := t.liveInstance(iid)
		if err != nil {
			return err
		}
		if r.State == model.StateTerminated || len(r.ENIs) == 0 {
			return model.Errorf(model.CodeIncorrectState, "The instance '%s' is not in a state from which it can be modified.", iid)
		}
		if (in.InstanceType != nil || in.UserData != nil) && r.State != model.StateStopped {
			return model.Errorf(model.CodeIncorrectState, "The instance '%s' is not in the 'stopped' state.", iid)
		}
		if modifyLaunchAttributes(r, in) {
			return t.putInstance(r)
		}
		if len(in.GroupIDs) > 0 && len(r.ENIs) > 1 {
			return model.Errorf(model.CodeInvalidInstanceID, "There are multiple interfaces attached to instance '%s'. Please specify an interface ID for the operation instead.", iid)
		}
		e, err := t.eniRec(r.ENIs[0])
		if err != nil {
			return err
		}
		if err := t.modifyENI(e, ModifyNetworkInterfaceAttributeInput{GroupIDs: in.GroupIDs, SourceDestCheck: in.SourceDestCheck}); err != nil {
			return err
		}
		return t.putENI(e)
	})
}

// modifyLaunchAttributes applies the one attribute of in that is not about
// the network, and reports whether there was one.
func modifyLaunchAttributes(r *instanceRecord, in ModifyInstanceAttributeInput) bool {
	switch {
	case in.InstanceType != nil:
		r.InstanceType = *in.InstanceType
	case in.UserData != nil:
		r.UserData = *in.UserData
	case in.DisableAPITermination != nil:
		r.DisableAPITermination = *in.DisableAPITermination
	case in.DisableAPIStop != nil:
		r.DisableAPIStop = *in.DisableAPIStop
	case in.ShutdownBehavior != nil:
		r.ShutdownBehavior = *in.ShutdownBehavior
	default:
		return false
	}
	return true
}

// InstanceAttribute is DescribeInstanceAttribute's answer: the instance ID
// and the one attribute asked for.
type InstanceAttribute struct {
	InstanceID model.InstanceID
	Attribute  string
	GroupSet   []GroupIdentifier // groupSet
	// Value is a scalar attribute as EC2 renders it ("t3.micro", "true",
	// "stop"); HasValue is false for attributes Palisade has no value for
	// (kernel, ramdisk, userData), which AWS shows empty.
	Value    string
	HasValue bool
}

// instanceAttributes are the names DescribeInstanceAttribute accepts, with
// the fixed values of those Palisade does not model.
var instanceAttributes = map[string]string{
	"instanceType": "", "sourceDestCheck": "", "groupSet": "",
	"kernel": "", "ramdisk": "", "userData": "", "blockDeviceMapping": "", "productCodes": "",
	"disableApiTermination": "false", "disableApiStop": "false", "instanceInitiatedShutdownBehavior": "stop",
	"rootDeviceName": "/dev/xvda", "ebsOptimized": "false", "sriovNetSupport": "", "enaSupport": "true",
	"enclaveOptions": "false",
}

// DescribeInstanceAttribute describes one attribute of an instance.
func (s *Service) DescribeInstanceAttribute(ctx context.Context, c Caller, id, attribute string) (*InstanceAttribute, error) {
	iid, err := model.ParseInstanceID(id)
	if err != nil {
		return nil, err
	}
	if attribute == "" {
		return nil, model.Errorf(model.CodeMissingParameter, "The request must contain the parameter attribute")
	}
	fixed, ok := instanceAttributes[attribute]
	if !ok {
		return nil, unknownAttribute(attribute)
	}
	var out *InstanceAttribute
	err = s.read(ctx, c, "DescribeInstanceAttribute", func(t *tx) error {
		r, err := t.liveInstance(iid)
		if err != nil {
			return err
		}
		enis, names, err := t.instanceENIs(r)
		if err != nil {
			return err
		}
		v := instanceView(r, enis, names)
		out = &InstanceAttribute{InstanceID: iid, Attribute: attribute, Value: fixed, HasValue: fixed != ""}
		if val, has, ok := r.launchAttributes.value(attribute); ok {
			out.Value, out.HasValue = val, has
		}
		switch attribute {
		case "groupSet":
			out.GroupSet = v.GroupSet
		case "instanceType":
			out.Value, out.HasValue = v.InstanceType, true
		case "sourceDestCheck":
			out.Value, out.HasValue = strconv.FormatBool(v.SourceDestCheck), true
		}
		return nil
	})
	return out, err
}

// AccountAttribute is one item of DescribeAccountAttributes.
type AccountAttribute struct {
	Name   string
	Values []string
}

// accountAttributeNames in the order they are answered.
var accountAttributeNames = []string{
	"supported-platforms", "default-vpc", "max-instances", "vpc-max-security-groups-per-interface",
	"max-security-groups-per-interface", "max-elastic-ips", "vpc-max-elastic-ips",
}

// DescribeAccountAttributes answers the account attributes tools read:
// supported-platforms (VPC only), default-vpc (its ID, or "none"),
// max-instances, the per-interface group limit under both of its names, and
// the elastic IP limits AWS reports (5; Palisade has no elastic IPs).
// names selects attributes; an unknown name is InvalidParameterValue.
func (s *Service) DescribeAccountAttributes(ctx context.Context, c Caller, names []string) ([]AccountAttribute, error) {
	for _, n := range names {
		if !slices.Contains(accountAttributeNames, n) {
			return nil, model.Errorf(model.CodeInvalidParameterValue, "Value (%s) for parameter attributeName is invalid. Unknown attribute.", n)
		}
	}
	defVPC := "none"
	err := s.read(ctx, c, "DescribeAccountAttributes", func(t *tx) error {
		v, err := t.defaultVPC()
		if err == nil {
			defVPC = string(v.ID)
		} else if model.CodeOf(err) != model.CodeVPCIDNotSpecified {
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	perENI := strconv.Itoa(s.cfg.MaxGroupsPerInterface)
	values := map[string]string{
		"supported-platforms": "VPC", "default-vpc": defVPC, "max-instances": strconv.Itoa(maxInstancesPerRegion),
		"vpc-max-security-groups-per-interface": perENI, "max-security-groups-per-interface": perENI,
		"max-elastic-ips": "5", "vpc-max-elastic-ips": "5",
	}
	var out []AccountAttribute
	for _, n := range accountAttributeNames {
		if len(names) == 0 || slices.Contains(names, n) {
			out = append(out, AccountAttribute{Name: n, Values: []string{values[n]}})
		}
	}
	return out, nil
}

// Region is one item of DescribeRegions.
type Region struct {
	Name        string
	Endpoint    string
	OptInStatus string // opt-in-not-required | opted-in
}

func regionInfo(name string) Region {
	r := Region{Name: name, Endpoint: "ec2." + name + ".amazonaws.com", OptInStatus: "opted-in"}
	if slices.Contains(defaultRegions, name) {
		r.OptInStatus = "opt-in-not-required"
	}
	return r
}

// DescribeRegions lists the served regions (Config.Regions), or those of
// names, filtered by endpoint, region-name and opt-in-status, sorted by
// name. A name that is not served is InvalidParameterValue. AllRegions
// changes nothing: every served region is enabled.
func (s *Service) DescribeRegions(ctx context.Context, c Caller, names []string, filters []Filter) ([]Region, error) {
	if err := s.CheckRegion(c.Region); err != nil {
		return nil, err
	}
	if err := checkFilters(filters, regionFields(&Region{})); err != nil {
		return nil, err
	}
	all := s.Regions()
	if len(names) > 0 {
		for _, n := range names {
			if !s.regions[n] {
				return nil, model.Errorf(model.CodeInvalidParameterValue, "Invalid region: %s", n)
			}
		}
		all = slices.DeleteFunc(all, func(r string) bool { return !slices.Contains(names, r) })
	}
	var out []Region
	for _, n := range all {
		r := regionInfo(n)
		if matchFilters(filters, regionFields(&r)) {
			out = append(out, r)
		}
	}
	return out, nil
}

func regionFields(r *Region) fieldsFunc {
	return func(name string) ([]string, bool) {
		switch name {
		case "endpoint":
			return []string{r.Endpoint}, true
		case "region-name":
			return []string{r.Name}, true
		case "opt-in-status":
			return []string{r.OptInStatus}, true
		}
		return nil, false
	}
}

// AvailabilityZone is one item of DescribeAvailabilityZones.
type AvailabilityZone struct {
	Name   string // us-east-1a
	ID     string // use1-az1
	Region string
	State  string // available
}

// zoneSuffixes are the zones of every region: <region>a, b and c.
var zoneSuffixes = []string{"a", "b", "c"}

// zoneID is the ID of a zone of zoneSuffixes (us-east-1b: use1-az2), as
// DescribeAvailabilityZones names it; "" for another name.
func zoneID(zone string) string {
	if zone == "" {
		return ""
	}
	i := slices.Index(zoneSuffixes, zone[len(zone)-1:])
	if i < 0 {
		return ""
	}
	return regionCode(zone[:len(zone)-1]) + "-az" + strconv.Itoa(i+1)
}

// DescribeAvailabilityZones lists the caller's region's zones a, b and c,
// selected by name or ID and filtered by zone-name, zone-id, state,
// region-name, zone-type, group-name, network-border-group and
// opt-in-status. An unknown zone is InvalidParameterValue.
func (s *Service) DescribeAvailabilityZones(ctx context.Context, c Caller, names, ids []string, filters []Filter) ([]AvailabilityZone, error) {
	if err := s.CheckRegion(c.Region); err != nil {
		return nil, err
	}
	if err := checkFilters(filters, zoneFields(&AvailabilityZone{})); err != nil {
		return nil, err
	}
	var all []AvailabilityZone
	for _, sfx := range zoneSuffixes {
		all = append(all, AvailabilityZone{Name: c.Region + sfx, ID: zoneID(c.Region + sfx), Region: c.Region, State: "available"})
	}
	for _, want := range append(slices.Clone(names), ids...) {
		if !slices.ContainsFunc(all, func(z AvailabilityZone) bool { return z.Name == want || z.ID == want }) {
			return nil, model.Errorf(model.CodeInvalidParameterValue, "Invalid availability zone: [%s]", want)
		}
	}
	var out []AvailabilityZone
	for _, z := range all {
		if (len(names)+len(ids) > 0 && !slices.Contains(names, z.Name) && !slices.Contains(ids, z.ID)) || !matchFilters(filters, zoneFields(&z)) {
			continue
		}
		out = append(out, z)
	}
	return out, nil
}

func zoneFields(z *AvailabilityZone) fieldsFunc {
	return func(name string) ([]string, bool) {
		switch name {
		case "zone-name":
			return []string{z.Name}, true
		case "zone-id":
			return []string{z.ID}, true
		case "state":
			return []string{z.State}, true
		case "region-name", "group-name", "network-border-group":
			return []string{z.Region}, true
		case "zone-type":
			return []string{"availability-zone"}, true
		case "opt-in-status":
			return []string{"opt-in-not-required"}, true
		}
		return nil, false
	}
}

// regionCode is the short form AWS zone IDs start with: "use1" for
// us-east-1, "apse2" for ap-southeast-2, "euc1" for eu-central-1.
func regionCode(region string) string {
	parts := strings.Split(region, "-")
	if len(parts) < 3 {
		return region
	}
	var b strings.Builder
	b.WriteString(parts[0])
	for _, p := range parts[1 : len(parts)-1] {
		switch p {
		case "northeast", "northwest", "southeast", "southwest":
			b.WriteString(p[:1] + p[5:6])
		case "gov":
			b.WriteString("g")
		default:
			b.WriteString(p[:1])
		}
	}
	b.WriteString(parts[len(parts)-1])
	return b.String()
}
