package service

import (
	"encoding/base64"
	"slices"
	"strconv"
	"strings"

	"palisade.dev/palisade/internal/model"
)

// This file holds the launch options that change nothing about an
// instance's network but that a client expects kept or refused, never
// dropped: KeyName, UserData, DisableApiTermination, DisableApiStop,
// InstanceInitiatedShutdownBehavior, Monitoring, EbsOptimized and
// MetadataOptions are kept (and described back); IamInstanceProfile,
// BlockDeviceMapping, Placement.GroupName and a tenancy other than default
// name what Palisade does not have, and are refused
// (docs/aws-semantics.md#interfaces-and-instances).

// LaunchOptions are RunInstances' options of that kind.
type LaunchOptions struct {
	KeyName               string // Palisade has no key pairs: any name is InvalidKeyPair.NotFound
	UserData              string // base64, as sent and as DescribeInstanceAttribute returns it
	DisableAPITermination *bool
	DisableAPIStop        *bool
	ShutdownBehavior      string // InstanceInitiatedShutdownBehavior: stop (default) or terminate
	Monitoring            *bool  // Monitoring.Enabled
	EbsOptimized          *bool
	Metadata              MetadataInput
	// IAMProfileArn and IAMProfileName are IamInstanceProfile's: Palisade
	// has no IAM, so any profile is unknown.
	IAMProfileArn, IAMProfileName string
	BlockDevices                  bool   // BlockDeviceMapping.N given: lab instances have no disks
	Tenancy                       string // Placement.Tenancy
	HostGiven                     bool   // Placement.HostId given (tenancy host needs it)
	PlacementGroup                string // Placement.GroupName: Palisade has no placement groups
}

// MetadataInput is RunInstances' MetadataOptions ("" or nil: AWS's default).
type MetadataInput struct {
	HTTPTokens, HTTPEndpoint, HTTPProtocolIPv6, InstanceMetadataTags string
	HopLimit                                                         *int32 // HttpPutResponseHopLimit
}

// MetadataOptions are an instance's instance metadata options, as
// DescribeInstances shows them.
type MetadataOptions struct {
	HTTPTokens           string `json:"httpTokens"`           // optional or required
	HopLimit             int32  `json:"hopLimit"`             // 1 to 64
	HTTPEndpoint         string `json:"httpEndpoint"`         // enabled or disabled
	HTTPProtocolIPv6     string `json:"httpProtocolIpv6"`     // enabled or disabled
	InstanceMetadataTags string `json:"instanceMetadataTags"` // enabled or disabled
}

// defaultMetadata are AWS's defaults for an image that does not ask for
// IMDSv2 only [doc: RunInstances' InstanceMetadataOptionsRequest].
var defaultMetadata = MetadataOptions{HTTPTokens: "optional", HopLimit: 1, HTTPEndpoint: "enabled",
	HTTPProtocolIPv6: "disabled", InstanceMetadataTags: "disabled"}

// LaunchSettings are the kept options that DescribeInstances shows.
type LaunchSettings struct {
	Monitoring   bool // detailed monitoring asked for (Palisade collects nothing more)
	EbsOptimized bool
	Metadata     MetadataOptions
}

// maxUserData is AWS's limit on user data, before base64 encoding.
const maxUserData = 16 * 1024

// check validates the options.
func (o LaunchOptions) check() error {
	if o.KeyName != "" {
		return model.Errorf(model.CodeInvalidKeyPairNotFound, "The key pair '%s' does not exist", o.KeyName)
	}
	if err := firstError(checkUserData(o.UserData), checkShutdownBehavior(o.ShutdownBehavior), o.checkAbsent(), checkTenancy(o.Tenancy, o.HostGiven)); err != nil {
		return err
	}
	_, err := o.Metadata.options()
	return err
}

// checkAbsent refuses the options that name what Palisade does not have.
func (o LaunchOptions) checkAbsent() error {
	switch {
	case o.IAMProfileName != "":
		return model.Errorf(model.CodeInvalidParameterValue, "Value (%s) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name", o.IAMProfileName)
	case o.IAMProfileArn != "":
		return model.Errorf(model.CodeInvalidParameterValue, "Value (%s) for parameter iamInstanceProfile.arn is invalid. Invalid IAM Instance Profile ARN", o.IAMProfileArn)
	case o.BlockDevices:
		return model.Errorf(model.CodeInvalidBlockDeviceMapping, "Palisade's lab instances have no block devices: BlockDeviceMapping cannot be honoured.")
	case o.PlacementGroup != "":
		return model.Errorf(model.CodeInvalidPlacementGroupUnknown, "The Placement Group '%s' is unknown.", o.PlacementGroup)
	}
	return nil
}

// checkTenancy accepts the default tenancy, and host with a host given.
func checkTenancy(t string, host bool) error {
	switch t {
	case "", "default":
		return nil
	case "host":
		if host {
			return nil
		}
		return model.Errorf(model.CodeInvalidParameterCombination, "Placement.Tenancy host needs Placement.HostId: Palisade has no host affinity or host resource groups.")
	case "dedicated":
		return model.Errorf(model.CodeInvalidParameterValue, "Value (dedicated) for parameter tenancy is invalid. "+
			"Palisade's lab shares its machines: the tenancy is default, or host with Placement.HostId.")
	}
	return model.Errorf(model.CodeInvalidParameterValue, "Value (%s) for parameter tenancy is invalid. Expected: 'default', 'dedicated', 'host'.", t)
}

// options checks m and fills in AWS's defaults.
func (m MetadataInput) options() (MetadataOptions, error) {
	out := defaultMetadata
	for _, f := range []struct {
		name, v string
		into    *string
		allowed []string
	}{
		{"httpTokens", m.HTTPTokens, &out.HTTPTokens, []string{"optional", "required"}},
		{"httpEndpoint", m.HTTPEndpoint, &out.HTTPEndpoint, []string{"enabled", "disabled"}},
		{"httpProtocolIpv6", m.HTTPProtocolIPv6, &out.HTTPProtocolIPv6, []string{"enabled", "disabled"}},
		{"instanceMetadataTags", m.InstanceMetadataTags, &out.InstanceMetadataTags, []string{"enabled", "disabled"}},
	} {
		if f.v == "" {
			continue
		}
		if !slices.Contains(f.allowed, f.v) {
			return out, model.Errorf(model.CodeInvalidParameterValue, "Value (%s) for parameter metadataOptions.%s is invalid. Expected: '%s'.",
				f.v, f.name, strings.Join(f.allowed, "', '"))
		}
		*f.into = f.v
	}
	if m.HopLimit != nil {
		if *m.HopLimit < 1 || *m.HopLimit > 64 {
			return out, model.Errorf(model.CodeInvalidParameterValue, "Value (%d) for parameter metadataOptions.httpPutResponseHopLimit is invalid. "+
				"Expected a value between 1 and 64.", *m.HopLimit)
		}
		out.HopLimit = *m.HopLimit
	}
	return out, nil
}

func checkUserData(b64 string) error {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return model.Errorf(model.CodeInvalidParameterValue, "Invalid BASE64 encoding of user data.")
	}
	if len(raw) > maxUserData {
		return model.Errorf(model.CodeInvalidParameterValue, "User data is limited to %d bytes", maxUserData)
	}
	return nil
}

func checkShutdownBehavior(v string) error {
	switch v {
	case "", "stop", "terminate":
		return nil
	}
	return model.Errorf(model.CodeInvalidParameterValue, "Value (%s) for parameter instanceInitiatedShutdownBehavior is invalid. Expected: 'stop', 'terminate'.", v)
}

// launchAttributes is what an instance keeps of its LaunchOptions.
type launchAttributes struct {
	UserData              string           `json:"userData,omitempty"`
	DisableAPITermination bool             `json:"disableApiTermination,omitempty"`
	DisableAPIStop        bool             `json:"disableApiStop,omitempty"`
	ShutdownBehavior      string           `json:"shutdownBehavior,omitempty"` // "": stop
	Monitoring            bool             `json:"monitoring,omitempty"`
	EbsOptimized          bool             `json:"ebsOptimized,omitempty"`
	Metadata              *MetadataOptions `json:"metadata,omitempty"` // nil: defaultMetadata
}

func (o LaunchOptions) attributes() launchAttributes {
	a := launchAttributes{
		UserData: o.UserData, DisableAPITermination: o.DisableAPITermination != nil && *o.DisableAPITermination,
		DisableAPIStop: o.DisableAPIStop != nil && *o.DisableAPIStop, ShutdownBehavior: o.ShutdownBehavior,
		Monitoring: o.Monitoring != nil && *o.Monitoring, EbsOptimized: o.EbsOptimized != nil && *o.EbsOptimized,
	}
	if m, err := o.Metadata.options(); err == nil && m != defaultMetadata { // checked by check
		a.Metadata = &m
	}
	return a
}

// settings are the attributes DescribeInstances shows.
func (a launchAttributes) settings() LaunchSettings {
	s := LaunchSettings{Monitoring: a.Monitoring, EbsOptimized: a.EbsOptimized, Metadata: defaultMetadata}
	if a.Metadata != nil {
		s.Metadata = *a.Metadata
	}
	return s
}

// fields are DescribeInstances' filters on the kept options.
func (s LaunchSettings) fields(name string) ([]string, bool) {
	switch name {
	case "monitoring-state":
		return []string{map[bool]string{true: "enabled", false: "disabled"}[s.Monitoring]}, true
	case "ebs-optimized":
		return []string{boolText(s.EbsOptimized)}, true
	case "metadata-options.http-tokens":
		return []string{s.Metadata.HTTPTokens}, true
	case "metadata-options.http-put-response-hop-limit":
		return []string{strconv.Itoa(int(s.Metadata.HopLimit))}, true
	case "metadata-options.http-endpoint":
		return []string{s.Metadata.HTTPEndpoint}, true
	case "metadata-options.http-protocol-ipv6":
		return []string{s.Metadata.HTTPProtocolIPv6}, true
	case "metadata-options.instance-metadata-tags":
		return []string{s.Metadata.InstanceMetadataTags}, true
	}
	return nil, false
}

// value is DescribeInstanceAttribute's value of one of these attributes,
// and whether name is one of them.
func (a launchAttributes) value(name string) (v string, has, ok bool) {
	switch name {
	case "userData":
		return a.UserData, a.UserData != "", true
	case "disableApiTermination":
		return boolText(a.DisableAPITermination), true, true
	case "disableApiStop":
		return boolText(a.DisableAPIStop), true, true
	case "ebsOptimized":
		return boolText(a.EbsOptimized), true, true
	case "instanceInitiatedShutdownBehavior":
		if a.ShutdownBehavior == "" {
			return "stop", true, true
		}
		return a.ShutdownBehavior, true, true
	}
	return "", false, false
}

func boolText(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// mayNot is the error for a state change that an instance's
// disableApiTermination or disableApiStop forbids.
func mayNot(id model.InstanceID, verb, attribute string) error {
	return model.Errorf(model.CodeOperationNotPermitted, "The instance '%s' may not be %s. Modify its '%s' instance attribute and try again.", id, verb, attribute)
}
