package service

import (
	"encoding/base64"

	"palisade.dev/palisade/internal/model"
)

// This file holds the launch options that change nothing about an
// instance's network but that a client expects kept or refused, never
// dropped: KeyName, UserData, DisableApiTermination, DisableApiStop and
// InstanceInitiatedShutdownBehavior (docs/aws-semantics.md#interfaces-and-instances).

// LaunchOptions are RunInstances' options of that kind.
type LaunchOptions struct {
	KeyName               string // Palisade has no key pairs: any name is InvalidKeyPair.NotFound
	UserData              string // base64, as sent and as DescribeInstanceAttribute returns it
	DisableAPITermination *bool
	DisableAPIStop        *bool
	ShutdownBehavior      string // InstanceInitiatedShutdownBehavior: stop (default) or terminate
}

// maxUserData is AWS's limit on user data, before base64 encoding.
const maxUserData = 16 * 1024

// check validates the options.
func (o LaunchOptions) check() error {
	if o.KeyName != "" {
		return model.Errorf(model.CodeInvalidKeyPairNotFound, "The key pair '%s' does not exist", o.KeyName)
	}
	if err := checkUserData(o.UserData); err != nil {
		return err
	}
	return checkShutdownBehavior(o.ShutdownBehavior)
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
	UserData              string `json:"userData,omitempty"`
	DisableAPITermination bool   `json:"disableApiTermination,omitempty"`
	DisableAPIStop        bool   `json:"disableApiStop,omitempty"`
	ShutdownBehavior      string `json:"shutdownBehavior,omitempty"` // "": stop
}

func (o LaunchOptions) attributes() launchAttributes {
	return launchAttributes{
		UserData: o.UserData, DisableAPITermination: o.DisableAPITermination != nil && *o.DisableAPITermination,
		DisableAPIStop: o.DisableAPIStop != nil && *o.DisableAPIStop, ShutdownBehavior: o.ShutdownBehavior,
	}
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
