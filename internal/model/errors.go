package model

import (
	"errors"
	"fmt"
)

// Error is a failure with an EC2 error code, as the API returns it. The
// service layer returns these; one encoder in the API layer writes them.
// Compare codes with CodeOf, never messages.
type Error struct {
	Code    string // EC2 error code, e.g. "InvalidGroup.NotFound"
	Message string // AWS-style message, shown to the user verbatim
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf builds an *Error with a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// CodeOf returns the EC2 code of err (anywhere in its chain), or "" when err
// carries none.
func CodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// EC2 error codes Palisade returns. Each is documented in docs/aws-semantics.md#error-codes.
const (
	CodeAuthFailure                        = "AuthFailure"
	CodeCannotDelete                       = "CannotDelete"
	CodeDependencyViolation                = "DependencyViolation"
	CodeDryRunOperation                    = "DryRunOperation"
	CodeIncorrectState                     = "IncorrectInstanceState"
	CodeInternalError                      = "InternalError"
	CodeUnavailable                        = "Unavailable"        // HTTP 503, retryable: e.g. the store's disk is full
	CodeServiceUnavailable                 = "ServiceUnavailable" // HTTP 503, retryable: the store (etcd) does not answer
	CodeInvalidAction                      = "InvalidAction"
	CodeInvalidGroupDuplicate              = "InvalidGroup.Duplicate"
	CodeInvalidGroupNotFound               = "InvalidGroup.NotFound"
	CodeInvalidGroupReserved               = "InvalidGroup.Reserved"
	CodeInvalidGroupIDMalformed            = "InvalidGroupId.Malformed"
	CodeInvalidInstanceID                  = "InvalidInstanceID"
	CodeInvalidInstanceIDMalformed         = "InvalidInstanceID.Malformed"
	CodeInvalidInstanceIDNotFound          = "InvalidInstanceID.NotFound"
	CodeInvalidNetworkInterfaceIDMalformed = "InvalidNetworkInterfaceID.Malformed"
	CodeInvalidNetworkInterfaceIDNotFound  = "InvalidNetworkInterfaceID.NotFound"
	CodeInvalidParameter                   = "InvalidParameter"
	CodeInvalidParameterCombination        = "InvalidParameterCombination"
	CodeInvalidParameterValue              = "InvalidParameterValue"
	CodeInvalidPermissionDuplicate         = "InvalidPermission.Duplicate"
	CodeInvalidPermissionMalformed         = "InvalidPermission.Malformed"
	CodeInvalidPermissionNotFound          = "InvalidPermission.NotFound"
	CodeInvalidPrefixListIDMalformed       = "InvalidPrefixListID.Malformed"
	CodeInvalidPrefixListIDNotFound        = "InvalidPrefixListID.NotFound"
	CodeInvalidRuleIDMalformed             = "InvalidSecurityGroupRuleId.Malformed"
	CodeInvalidRuleIDNotFound              = "InvalidSecurityGroupRuleId.NotFound"
	CodeInvalidSubnetIDMalformed           = "InvalidSubnetID.Malformed"
	CodeInvalidSubnetIDNotFound            = "InvalidSubnetID.NotFound"
	CodeInvalidVpcIDMalformed              = "InvalidVpcID.Malformed"
	CodeInvalidVpcIDNotFound               = "InvalidVpcID.NotFound"
	CodeInvalidPeeringIDNotFound           = "InvalidVpcPeeringConnectionID.NotFound"
	CodeInvalidKeyPairNotFound             = "InvalidKeyPair.NotFound"
	CodeOperationNotPermitted              = "OperationNotPermitted"
	CodeMissingParameter                   = "MissingParameter"
	CodeInvalidFlowLogIDNotFound           = "InvalidFlowLogId.NotFound"
	CodeInvalidFlowLogIDMalformed          = "InvalidFlowLogId.Malformed"
	CodeFlowLogAlreadyExists               = "FlowLogAlreadyExists"
	CodeUnsupportedOperation               = "UnsupportedOperation"
	CodeRulesPerGroupLimitExceeded         = "RulesPerSecurityGroupLimitExceeded"
	CodeGroupLimitExceeded                 = "SecurityGroupLimitExceeded"
	CodeGroupsPerInterfaceLimitExceeded    = "SecurityGroupsPerInterfaceLimitExceeded"
	CodeSignatureDoesNotMatch              = "SignatureDoesNotMatch"
	CodeTagLimitExceeded                   = "TagLimitExceeded"
	CodeUnauthorizedOperation              = "UnauthorizedOperation"
	CodeVPCIDNotSpecified                  = "VPCIdNotSpecified"
)
