package service_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/service"
)

func TestLaunchOptionsAreKeptOrRefused(t *testing.T) {
	f := newFixture(t)
	userData := base64.StdEncoding.EncodeToString([]byte("#!/bin/sh\necho hi\n"))
	id := f.run(bob, service.RunInstancesInput{Options: service.LaunchOptions{
		UserData: userData, DisableAPITermination: pbool(true), DisableAPIStop: pbool(true), ShutdownBehavior: "terminate",
	}}).Instances[0].ID
	for attr, want := range map[string]string{
		"userData": userData, "disableApiTermination": "true", "disableApiStop": "true", "instanceInitiatedShutdownBehavior": "terminate",
	} {
		a, err := f.DescribeInstanceAttribute(ctx, bob, string(id), attr)
		if err != nil || !a.HasValue || a.Value != want {
			t.Errorf("%s: %+v %v, want %q", attr, a, err, want)
		}
	}
	// Protected: neither terminated nor stopped until the attribute changes.
	_, err := f.TerminateInstances(ctx, bob, []string{string(id)})
	wantErr(t, err, model.CodeOperationNotPermitted, "The instance '"+string(id)+"' may not be terminated. Modify its 'disableApiTermination' instance attribute and try again.")
	_, err = f.StopInstances(ctx, bob, []string{string(id)})
	wantErr(t, err, model.CodeOperationNotPermitted, "may not be stopped")
	for _, in := range []service.ModifyInstanceAttributeInput{{DisableAPIStop: pbool(false)}, {DisableAPITermination: pbool(false)}} {
		in.InstanceID = string(id)
		if err := f.ModifyInstanceAttribute(ctx, bob, in); err != nil {
			t.Fatal(err)
		}
	}
	// User data changes only while stopped.
	other := base64.StdEncoding.EncodeToString([]byte("other"))
	err = f.ModifyInstanceAttribute(ctx, bob, service.ModifyInstanceAttributeInput{InstanceID: string(id), UserData: &other})
	wantErr(t, err, model.CodeIncorrectState, "is not in the 'stopped' state")
	if _, err := f.StopInstances(ctx, bob, []string{string(id)}); err != nil {
		t.Fatal(err)
	}
	if err := f.ModifyInstanceAttribute(ctx, bob, service.ModifyInstanceAttributeInput{InstanceID: string(id), UserData: &other}); err != nil {
		t.Fatal(err)
	}
	if a, _ := f.DescribeInstanceAttribute(ctx, bob, string(id), "userData"); a.Value != other {
		t.Errorf("userData after modify: %+v", a)
	}
	if _, err := f.TerminateInstances(ctx, bob, []string{string(id)}); err != nil {
		t.Fatal(err)
	}
	// Without user data the attribute is empty, as on AWS.
	plain := f.run(bob, service.RunInstancesInput{}).Instances[0].ID
	if a, _ := f.DescribeInstanceAttribute(ctx, bob, string(plain), "userData"); a.HasValue {
		t.Errorf("userData of an instance launched without: %+v", a)
	}

	one := int32(1)
	for _, c := range []struct {
		name      string
		opts      service.LaunchOptions
		code, msg string
	}{
		{"key pair", service.LaunchOptions{KeyName: "mykey"}, model.CodeInvalidKeyPairNotFound, "The key pair 'mykey' does not exist"},
		{"not base64", service.LaunchOptions{UserData: "#!/bin/sh"}, model.CodeInvalidParameterValue, "Invalid BASE64 encoding of user data."},
		{"too long", service.LaunchOptions{UserData: base64.StdEncoding.EncodeToString([]byte(strings.Repeat("x", 16*1024+1)))}, model.CodeInvalidParameterValue, "User data is limited to 16384 bytes"},
		{"shutdown behaviour", service.LaunchOptions{ShutdownBehavior: "hibernate"}, model.CodeInvalidParameterValue, "instanceInitiatedShutdownBehavior"},
	} {
		_, err := f.RunInstances(ctx, bob, service.RunInstancesInput{ImageID: "ami-12345678", MinCount: &one, MaxCount: &one, Options: c.opts})
		if model.CodeOf(err) != c.code || !strings.Contains(errText(err), c.msg) {
			t.Errorf("%s: %v, want %s %q", c.name, err, c.code, c.msg)
		}
	}
}
