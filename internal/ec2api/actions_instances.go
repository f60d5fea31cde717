package ec2api

import (
	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/service"
)

// instanceActions serves instances: in the lab, network namespaces whose
// interfaces carry security groups.
func instanceActions() Table {
	return Table{
		"RunInstances":              Action(parseRunInstances, runRunInstances),
		"DescribeInstances":         Action(parseDescribeInstances, runDescribeInstances),
		"TerminateInstances":        Action(parseInstanceIDs, runTerminateInstances),
		"StopInstances":             Action(parseInstanceIDs, runStopInstances),
		"StartInstances":            Action(parseStartInstances, runStartInstances),
		"ModifyInstanceAttribute":   Action(parseModifyInstanceAttribute, runModifyInstanceAttribute),
		"DescribeInstanceAttribute": Action(parseDescribeInstanceAttribute, runDescribeInstanceAttribute),
		"DescribeInstanceStatus":    Action(parseDescribeInstanceStatus, runDescribeInstanceStatus),
		"RebootInstances":           Action(parseRebootInstances, runRebootInstances),
	}
}

// parseRunInstances reads what the service launches with. KeyName,
// UserData, DisableApiTermination, DisableApiStop and
// InstanceInitiatedShutdownBehavior go to the service, which keeps or
// refuses them.
func parseRunInstances(p *Params) (service.RunInstancesInput, error) {
	in := service.RunInstancesInput{
		ImageID: p.String("ImageId"), InstanceType: p.String("InstanceType"), SubnetID: p.String("SubnetId"),
		Zone: p.String("Placement.AvailabilityZone"), ZoneID: p.String("Placement.AvailabilityZoneId"), HostID: p.String("Placement.HostId"), PrivateIP: p.String("PrivateIpAddress"), ClientToken: p.String("ClientToken"),
	}
	var err error
	if in.MinCount, err = p.OptInt32("MinCount"); err != nil {
		return in, err
	}
	if in.MaxCount, err = p.OptInt32("MaxCount"); err != nil {
		return in, err
	}
	if in.GroupIDs, err = p.Strings("SecurityGroupId"); err != nil {
		return in, err
	}
	if in.GroupNames, err = p.Strings("SecurityGroup"); err != nil {
		return in, err
	}
	if in.IPv6AddressCount, err = optInt32(p, "Ipv6AddressCount"); err != nil {
		return in, err
	}
	if in.IPv6Addresses, err = readIPv6Specs(p, "Ipv6Address"); err != nil {
		return in, err
	}
	if in.Interfaces, err = readInterfaceSpecs(p); err != nil {
		return in, err
	}
	if in.Options, err = readLaunchOptions(p); err != nil {
		return in, err
	}
	// Launch options that change nothing about the network of a lab
	// instance and that AWS accepts with their defaults are accepted, so
	// that tutorials, Terraform and boto3 scripts run unchanged.
	p.Ignore("CreditSpecification", "HibernationOptions", "EnclaveOptions",
		"PrivateDnsNameOptions", "MaintenanceOptions", "CapacityReservationSpecification")
	in.TagSpecifications, err = readRawTagSpecs(p)
	return in, err
}

// readLaunchOptions reads the launch options the service keeps or refuses.
func readLaunchOptions(p *Params) (service.LaunchOptions, error) {
	o := service.LaunchOptions{KeyName: p.String("KeyName"), UserData: p.String("UserData"),
		ShutdownBehavior: p.String("InstanceInitiatedShutdownBehavior")}
	var err error
	if o.DisableAPITermination, err = p.OptBool("DisableApiTermination"); err != nil {
		return o, err
	}
	if o.DisableAPIStop, err = p.OptBool("DisableApiStop"); err != nil {
		return o, err
	}
	if o.Monitoring, err = p.OptBool("Monitoring.Enabled"); err != nil {
		return o, err
	}
	if o.EbsOptimized, err = p.OptBool("EbsOptimized"); err != nil {
		return o, err
	}
	return o, readAbsentOptions(p, &o)
}

// readAbsentOptions reads MetadataOptions, and the options that name what
// Palisade does not have (the service refuses them).
func readAbsentOptions(p *Params, o *service.LaunchOptions) error {
	o.Metadata = service.MetadataInput{HTTPTokens: p.String("MetadataOptions.HttpTokens"),
		HTTPEndpoint: p.String("MetadataOptions.HttpEndpoint"), HTTPProtocolIPv6: p.String("MetadataOptions.HttpProtocolIpv6"),
		InstanceMetadataTags: p.String("MetadataOptions.InstanceMetadataTags")}
	var err error
	if o.Metadata.HopLimit, err = p.OptInt32("MetadataOptions.HttpPutResponseHopLimit"); err != nil {
		return err
	}
	o.IAMProfileArn, o.IAMProfileName = p.String("IamInstanceProfile.Arn"), p.String("IamInstanceProfile.Name")
	o.Tenancy, o.PlacementGroup = p.String("Placement.Tenancy"), p.String("Placement.GroupName")
	o.HostGiven = p.Has("Placement.HostId")
	o.BlockDevices = p.Has("BlockDeviceMapping")
	p.Ignore("BlockDeviceMapping") // refused whole by the service
	return nil
}

// readInterfaceSpecs reads NetworkInterface.N of RunInstances.
func readInterfaceSpecs(p *Params) ([]service.InterfaceSpec, error) {
	elems, err := p.List("NetworkInterface")
	if err != nil {
		return nil, err
	}
	var out []service.InterfaceSpec
	for _, e := range elems {
		sp := service.InterfaceSpec{
			NetworkInterfaceID: e.String("NetworkInterfaceId"), SubnetID: e.String("SubnetId"),
			PrivateIP: e.String("PrivateIpAddress"), Description: e.String("Description"),
		}
		if sp.DeviceIndex, err = e.OptInt32("DeviceIndex"); err != nil {
			return nil, err
		}
		if sp.GroupIDs, err = e.Strings("SecurityGroupId"); err != nil {
			return nil, err
		}
		if sp.IPv6AddressCount, err = optInt32(e, "Ipv6AddressCount"); err != nil {
			return nil, err
		}
		if sp.DeleteOnTermination, err = e.OptBool("DeleteOnTermination"); err != nil {
			return nil, err
		}
		if sp.AssociatePublicIP, err = e.OptBool("AssociatePublicIpAddress"); err != nil {
			return nil, err
		}
		if sp.Secondary, err = readSecondaryIPs(e); err != nil {
			return nil, err
		}
		if sp.IPv6Addresses, err = readIPv6Specs(e, "Ipv6Addresses"); err != nil {
			return nil, err
		}
		if sp.Conntrack, _, err = readConntrack(e, "ConnectionTrackingSpecification"); err != nil {
			return nil, err
		}
		out = append(out, sp)
	}
	return out, nil
}

func runRunInstances(c *Call, in service.RunInstancesInput) (any, error) {
	res, err := c.Service.RunInstances(c.Ctx, c.Caller, in)
	if err != nil {
		return nil, err
	}
	ids, err := zoneIDs(c)
	if err != nil {
		return nil, err
	}
	return reservationOf(res, ids), nil
}

func parseDescribeInstances(p *Params) (service.DescribeInstancesInput, error) {
	in, err := parseDescribe("InstanceId")(p)
	return service.DescribeInstancesInput(in), err
}

func runDescribeInstances(c *Call, in service.DescribeInstancesInput) (any, error) {
	reservations, next, err := c.Service.DescribeInstances(c.Ctx, c.Caller, in)
	if err != nil {
		return nil, err
	}
	ids, err := zoneIDs(c)
	if err != nil {
		return nil, err
	}
	out := describeInstancesXML{Reservations: make(Set[reservationXML], len(reservations)), NextToken: next}
	for i := range reservations {
		out.Reservations[i] = reservationOf(&reservations[i], ids)
	}
	return out, nil
}

// parseInstanceIDs reads InstanceId.N of TerminateInstances and
// StopInstances, and their Force and SkipOsShutdown, which change nothing:
// a Palisade instance has no operating system to wait for, and stops and
// terminates at once.
func parseInstanceIDs(p *Params) ([]string, error) {
	for _, name := range []string{"Force", "SkipOsShutdown"} {
		if _, err := p.Bool(name); err != nil {
			return nil, err
		}
	}
	return p.Strings("InstanceId")
}

func parseStartInstances(p *Params) ([]string, error) { return p.Strings("InstanceId") }

func runTerminateInstances(c *Call, ids []string) (any, error) {
	return stateChanges(c.Service.TerminateInstances(c.Ctx, c.Caller, ids))
}

func runStopInstances(c *Call, ids []string) (any, error) {
	return stateChanges(c.Service.StopInstances(c.Ctx, c.Caller, ids))
}

func runStartInstances(c *Call, ids []string) (any, error) {
	return stateChanges(c.Service.StartInstances(c.Ctx, c.Caller, ids))
}

func stateChanges(changes []service.InstanceStateChange, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	out := stateChangesXML{Instances: make(Set[stateChangeXML], len(changes))}
	for i, ch := range changes {
		out.Instances[i] = stateChangeXML{string(ch.ID), stateOf(ch.Current), stateOf(ch.Previous)}
	}
	return out, nil
}

// parseModifyInstanceAttribute reads the attributes the service changes, in
// both wire forms: the structured one (GroupId.N, InstanceType.Value,
// SourceDestCheck.Value) and the older Attribute=name&Value=v (boto3's
// Instance.modify_attribute, aws ec2 modify-instance-attribute --attribute).
func parseModifyInstanceAttribute(p *Params) (service.ModifyInstanceAttributeInput, error) {
	in := service.ModifyInstanceAttributeInput{InstanceID: p.String("InstanceId")}
	var err error
	if in.GroupIDs, err = p.Strings("GroupId"); err != nil {
		return in, err
	}
	if v, ok := p.OptString("InstanceType.Value"); ok {
		in.InstanceType = &v
	}
	if in.SourceDestCheck, err = p.OptBool("SourceDestCheck.Value"); err != nil {
		return in, err
	}
	if in.DisableAPITermination, err = p.OptBool("DisableApiTermination.Value"); err != nil {
		return in, err
	}
	if in.DisableAPIStop, err = p.OptBool("DisableApiStop.Value"); err != nil {
		return in, err
	}
	if v, ok := p.OptString("UserData.Value"); ok {
		in.UserData = &v
	}
	if v, ok := p.OptString("InstanceInitiatedShutdownBehavior.Value"); ok {
		in.ShutdownBehavior = &v
	}
	name, ok := p.OptString("Attribute")
	if !ok {
		return in, nil
	}
	return in, readAttributeValue(p, name, &in)
}

// readAttributeValue applies Attribute=name&Value=v to in.
func readAttributeValue(p *Params, name string, in *service.ModifyInstanceAttributeInput) error {
	twice := model.Errorf(model.CodeInvalidParameterCombination, "The attribute %s is given both as Attribute and by name.", clipValue(name))
	switch name {
	case "instanceType":
		if in.InstanceType != nil {
			return twice
		}
		v := p.String("Value")
		in.InstanceType = &v
	case "userData", "instanceInitiatedShutdownBehavior":
		target := map[string]**string{"userData": &in.UserData, "instanceInitiatedShutdownBehavior": &in.ShutdownBehavior}[name]
		if *target != nil {
			return twice
		}
		v := p.String("Value")
		*target = &v
	case "sourceDestCheck", "disableApiTermination", "disableApiStop":
		target := map[string]**bool{"sourceDestCheck": &in.SourceDestCheck,
			"disableApiTermination": &in.DisableAPITermination, "disableApiStop": &in.DisableAPIStop}[name]
		if *target != nil {
			return twice
		}
		v, err := p.OptBool("Value")
		if v == nil && err == nil {
			err = model.Errorf(model.CodeMissingParameter, "The request must contain the parameter Value")
		}
		*target = v
		return err
	default:
		return model.Errorf(model.CodeInvalidParameterValue, "Value (%s) for parameter attribute is invalid. Palisade can modify instanceType, sourceDestCheck, userData, disableApiTermination, disableApiStop, instanceInitiatedShutdownBehavior and groupSet (GroupId.N).", clipValue(name))
	}
	return nil
}

func runModifyInstanceAttribute(c *Call, in service.ModifyInstanceAttributeInput) (any, error) {
	return returnTrue, c.Service.ModifyInstanceAttribute(c.Ctx, c.Caller, in)
}

func parseDescribeInstanceAttribute(p *Params) (attributeInput, error) {
	return attributeInput{p.String("InstanceId"), p.String("Attribute")}, nil
}

func runDescribeInstanceAttribute(c *Call, in attributeInput) (any, error) {
	a, err := c.Service.DescribeInstanceAttribute(c.Ctx, c.Caller, in.ID, in.Attribute)
	if err != nil {
		return nil, err
	}
	return instanceAttributeOf(a), nil
}
