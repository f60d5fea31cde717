package ec2api

import (
	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/service"
)

// The response shapes of the instance actions, with the element names
// aws-sdk-go-v2 decodes. The waiters read instanceState/name (instance-
// running, instance-stopped, instance-terminated), so it is always there.

type describeInstancesXML struct {
	Reservations Set[reservationXML] `xml:"reservationSet"`
	NextToken    string              `xml:"nextToken,omitempty"`
}

// reservationXML is a Reservation, and also RunInstances' whole body. Its
// groupSet is empty, as EC2 shows it for VPC instances: their groups are
// on the instances' interfaces.
type reservationXML struct {
	ReservationID string                  `xml:"reservationId"`
	OwnerID       string                  `xml:"ownerId"`
	GroupSet      Set[groupIdentifierXML] `xml:"groupSet"`
	Instances     Set[instanceXML]        `xml:"instancesSet"`
}

type instanceStateXML struct {
	Code int    `xml:"code"`
	Name string `xml:"name"`
}

type placementXML struct {
	AvailabilityZone   string `xml:"availabilityZone"`
	AvailabilityZoneID string `xml:"availabilityZoneId,omitempty"`
	GroupName          string `xml:"groupName"`
	Tenancy            string `xml:"tenancy"`
	HostID             string `xml:"hostId,omitempty"`
}

type monitoringXML struct {
	State string `xml:"state"`
}

type metadataOptionsXML struct {
	State                   string `xml:"state"`
	HTTPTokens              string `xml:"httpTokens"`
	HTTPPutResponseHopLimit int32  `xml:"httpPutResponseHopLimit"`
	HTTPEndpoint            string `xml:"httpEndpoint"`
	HTTPProtocolIPv6        string `xml:"httpProtocolIpv6"`
	InstanceMetadataTags    string `xml:"instanceMetadataTags"`
}

// launchSettingsOf renders the kept launch options: monitoring and the
// metadata options (which are in force at once: "applied").
func launchSettingsOf(s service.LaunchSettings) (monitoringXML, *metadataOptionsXML) {
	mon := monitoringXML{"disabled"}
	if s.Monitoring {
		mon.State = "enabled"
	}
	m := s.Metadata
	return mon, &metadataOptionsXML{State: "applied", HTTPTokens: m.HTTPTokens, HTTPPutResponseHopLimit: m.HopLimit,
		HTTPEndpoint: m.HTTPEndpoint, HTTPProtocolIPv6: m.HTTPProtocolIPv6, InstanceMetadataTags: m.InstanceMetadataTags}
}

// instanceXML is an Instance. Besides what Palisade models, it carries the
// fixed facts of a lab machine that tools print or wait on: an x86_64 HVM
// machine with an EBS root at /dev/xvda, no monitoring, Linux/UNIX.
type instanceXML struct {
	InstanceID         string                  `xml:"instanceId"`
	ImageID            string                  `xml:"imageId"`
	State              instanceStateXML        `xml:"instanceState"`
	PrivateDNSName     string                  `xml:"privateDnsName"`
	DNSName            string                  `xml:"dnsName"`
	Reason             string                  `xml:"reason"`
	AmiLaunchIndex     int                     `xml:"amiLaunchIndex"`
	ProductCodes       Set[struct{}]           `xml:"productCodes"`
	InstanceType       string                  `xml:"instanceType"`
	LaunchTime         string                  `xml:"launchTime"`
	Placement          placementXML            `xml:"placement"`
	Monitoring         monitoringXML           `xml:"monitoring"`
	SubnetID           string                  `xml:"subnetId,omitempty"`
	VpcID              string                  `xml:"vpcId,omitempty"`
	PrivateIPAddress   string                  `xml:"privateIpAddress,omitempty"`
	SourceDestCheck    bool                    `xml:"sourceDestCheck"`
	GroupSet           Set[groupIdentifierXML] `xml:"groupSet"`
	Architecture       string                  `xml:"architecture"`
	RootDeviceType     string                  `xml:"rootDeviceType"`
	RootDeviceName     string                  `xml:"rootDeviceName"`
	BlockDeviceMapping Set[struct{}]           `xml:"blockDeviceMapping"`
	VirtualizationType string                  `xml:"virtualizationType"`
	StateReason        *stateReasonXML         `xml:"stateReason,omitempty"`
	ClientToken        string                  `xml:"clientToken,omitempty"`
	Tags               Set[tagXML]             `xml:"tagSet"`
	Hypervisor         string                  `xml:"hypervisor"`
	NetworkInterfaces  Set[instanceENIXML]     `xml:"networkInterfaceSet"`
	EbsOptimized       bool                    `xml:"ebsOptimized"`
	EnaSupport         bool                    `xml:"enaSupport"`
	MetadataOptions    *metadataOptionsXML     `xml:"metadataOptions"`
	PlatformDetails    string                  `xml:"platformDetails"`
	UsageOperation     string                  `xml:"usageOperation"`
}

// instanceENIXML is an InstanceNetworkInterface: an interface as seen from
// its instance (its attachment does not repeat the instance).
type instanceENIXML struct {
	NetworkInterfaceID string                  `xml:"networkInterfaceId"`
	SubnetID           string                  `xml:"subnetId"`
	VpcID              string                  `xml:"vpcId"`
	Description        string                  `xml:"description"`
	OwnerID            string                  `xml:"ownerId"`
	Status             string                  `xml:"status"`
	MacAddress         string                  `xml:"macAddress"`
	PrivateIPAddress   string                  `xml:"privateIpAddress,omitempty"`
	PrivateDNSName     string                  `xml:"privateDnsName,omitempty"`
	SourceDestCheck    bool                    `xml:"sourceDestCheck"`
	GroupSet           Set[groupIdentifierXML] `xml:"groupSet"`
	Attachment         *eniAttachmentXML       `xml:"attachment,omitempty"`
	PrivateIPs         Set[privateIPXML]       `xml:"privateIpAddressesSet"`
	IPv6s              Set[ipv6AddressXML]     `xml:"ipv6AddressesSet"`
	InterfaceType      string                  `xml:"interfaceType"`
	Conntrack          *conntrackXML           `xml:"connectionTrackingConfiguration"`
}

type stateReasonXML struct {
	Code    string `xml:"code"`
	Message string `xml:"message"`
}

type stateChangesXML struct {
	Instances Set[stateChangeXML] `xml:"instancesSet"`
}

type stateChangeXML struct {
	InstanceID string           `xml:"instanceId"`
	Current    instanceStateXML `xml:"currentState"`
	Previous   instanceStateXML `xml:"previousState"`
}

func stateOf(s model.InstanceState) instanceStateXML { return instanceStateXML{s.Code(), string(s)} }

func reservationOf(r *service.Reservation, zoneIDs map[string]string) reservationXML {
	out := reservationXML{
		ReservationID: string(r.ID), OwnerID: string(r.Owner),
		GroupSet: Set[groupIdentifierXML]{}, Instances: make(Set[instanceXML], len(r.Instances)),
	}
	for i := range r.Instances {
		out.Instances[i] = instanceOf(&r.Instances[i], zoneIDs)
	}
	return out
}

func instanceOf(v *service.InstanceView, zoneIDs map[string]string) instanceXML {
	out := instanceXML{
		InstanceID: string(v.ID), ImageID: v.ImageID, State: stateOf(v.State),
		PrivateDNSName: v.PrivateDNSName, AmiLaunchIndex: v.LaunchIndex, ProductCodes: Set[struct{}]{},
		InstanceType: v.InstanceType, LaunchTime: wireTime(v.LaunchTime),
		Placement:  placementXML{AvailabilityZone: v.Zone, AvailabilityZoneID: zoneIDs[v.Zone], Tenancy: v.Tenancy, HostID: string(v.Host)},
		Monitoring: monitoringXML{"disabled"},
		SubnetID:   string(v.Subnet), VpcID: string(v.VPC), SourceDestCheck: v.SourceDestCheck,
		GroupSet:     groupSetOf(v.GroupSet),
		Architecture: "x86_64", RootDeviceType: "ebs", RootDeviceName: "/dev/xvda",
		BlockDeviceMapping: Set[struct{}]{}, VirtualizationType: "hvm", ClientToken: v.ClientToken,
		Tags: tagSet(v.Tags), Hypervisor: "xen", NetworkInterfaces: make(Set[instanceENIXML], len(v.Interfaces)),
		EnaSupport: true, PlatformDetails: "Linux/UNIX", UsageOperation: "RunInstances",
		Reason: v.StateTransitionReason,
	}
	if v.StateReason != nil {
		out.StateReason = &stateReasonXML{v.StateReason.Code, v.StateReason.Message}
	}
	out.Monitoring, out.MetadataOptions = launchSettingsOf(v.Launch)
	out.EbsOptimized = v.Launch.EbsOptimized
	if v.PrivateIP.IsValid() {
		out.PrivateIPAddress = v.PrivateIP.String()
	}
	for i := range v.Interfaces {
		out.NetworkInterfaces[i] = instanceENIOf(&v.Interfaces[i])
	}
	return out
}

func instanceENIOf(n *service.NetworkInterface) instanceENIXML {
	out := instanceENIXML{
		NetworkInterfaceID: string(n.ID), SubnetID: string(n.Subnet), VpcID: string(n.VPC),
		Description: n.Description, OwnerID: string(n.Account), Status: n.Status(), MacAddress: n.MAC,
		PrivateDNSName: n.PrivateDNSName, SourceDestCheck: n.SourceDestCheck, GroupSet: groupSetOf(n.GroupSet),
		Attachment: attachmentOf(n.Account, n.Attachment),
		PrivateIPs: privateIPsOf(n), IPv6s: ipv6sOf(n.IPv6s),
		InterfaceType: "interface", Conntrack: conntrackOf(n.Conntrack),
	}
	if out.Attachment != nil {
		out.Attachment.InstanceID, out.Attachment.InstanceOwnerID = "", ""
	}
	if len(n.PrivateIPs) > 0 {
		out.PrivateIPAddress = n.PrivateIPs[0].String()
	}
	return out
}

// instanceAttributeXML is DescribeInstanceAttribute's body: the instance ID
// and the one attribute asked for, under its own name.
type instanceAttributeXML struct {
	InstanceID                        string                  `xml:"instanceId"`
	GroupSet                          Set[groupIdentifierXML] `xml:"groupSet,omitempty"`
	BlockDeviceMapping                *Set[struct{}]          `xml:"blockDeviceMapping,omitempty"`
	ProductCodes                      *Set[struct{}]          `xml:"productCodes,omitempty"`
	EnclaveOptions                    *enclaveOptionsXML      `xml:"enclaveOptions,omitempty"`
	InstanceType                      *attrValueXML           `xml:"instanceType,omitempty"`
	Kernel                            *attrValueXML           `xml:"kernel,omitempty"`
	Ramdisk                           *attrValueXML           `xml:"ramdisk,omitempty"`
	UserData                          *attrValueXML           `xml:"userData,omitempty"`
	RootDeviceName                    *attrValueXML           `xml:"rootDeviceName,omitempty"`
	InstanceInitiatedShutdownBehavior *attrValueXML           `xml:"instanceInitiatedShutdownBehavior,omitempty"`
	SriovNetSupport                   *attrValueXML           `xml:"sriovNetSupport,omitempty"`
	DisableAPITermination             *attrBoolXML            `xml:"disableApiTermination,omitempty"`
	DisableAPIStop                    *attrBoolXML            `xml:"disableApiStop,omitempty"`
	EbsOptimized                      *attrBoolXML            `xml:"ebsOptimized,omitempty"`
	EnaSupport                        *attrBoolXML            `xml:"enaSupport,omitempty"`
	SourceDestCheck                   *attrBoolXML            `xml:"sourceDestCheck,omitempty"`
}

type enclaveOptionsXML struct {
	Enabled bool `xml:"enabled"`
}

// instanceAttributeOf renders one instance attribute. Each EC2 attribute
// has a shape of its own: a list (groupSet, blockDeviceMapping,
// productCodes), enclave options, a boolean value, or a text value.
func instanceAttributeOf(a *service.InstanceAttribute) instanceAttributeXML {
	out := instanceAttributeXML{InstanceID: string(a.InstanceID)}
	text := &attrValueXML{}
	if a.HasValue {
		text.Value = &a.Value
	}
	flag := &attrBoolXML{a.Value == "true"}
	empty := &Set[struct{}]{}
	switch a.Attribute {
	case "groupSet":
		out.GroupSet = groupSetOf(a.GroupSet)
	case "blockDeviceMapping":
		out.BlockDeviceMapping = empty
	case "productCodes":
		out.ProductCodes = empty
	case "enclaveOptions":
		out.EnclaveOptions = &enclaveOptionsXML{a.Value == "true"}
	case "disableApiTermination":
		out.DisableAPITermination = flag
	case "disableApiStop":
		out.DisableAPIStop = flag
	case "ebsOptimized":
		out.EbsOptimized = flag
	case "enaSupport":
		out.EnaSupport = flag
	case "sourceDestCheck":
		out.SourceDestCheck = flag
	case "instanceType":
		out.InstanceType = text
	case "kernel":
		out.Kernel = text
	case "ramdisk":
		out.Ramdisk = text
	case "userData":
		out.UserData = text
	case "rootDeviceName":
		out.RootDeviceName = text
	case "instanceInitiatedShutdownBehavior":
		out.InstanceInitiatedShutdownBehavior = text
	case "sriovNetSupport":
		out.SriovNetSupport = text
	}
	return out
}
