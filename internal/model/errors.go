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

// The EC2 error codes Palisade answers with: every one is here, and in
// codeStatus with its HTTP status (a test holds the tree to it). AWS's
// codes are documented in docs/aws-semantics.md#error-codes; a few are
// Palisade's own (lab hosts, accounts).
const (
	CodeAccessKeyDuplicate                 = "InvalidAccessKeyID.Duplicate" // Palisade's accounts
	CodeAccountDuplicate                   = "InvalidAccountID.Duplicate"   // Palisade's accounts
	CodeAuthFailure                        = "AuthFailure"
	CodeCannotDelete                       = "CannotDelete"
	CodeCidrLimitExceeded                  = "CidrLimitExceeded"
	CodeDefaultSubnetAlreadyExists         = "DefaultSubnetAlreadyExistsInAvailabilityZone"
	CodeDefaultVpcAlreadyExists            = "DefaultVpcAlreadyExists"
	CodeDefaultVpcDoesNotExist             = "DefaultVpcDoesNotExist"
	CodeDependencyViolation                = "DependencyViolation"
	CodeDryRunOperation                    = "DryRunOperation"
	CodeIdempotentParameterMismatch        = "IdempotentParameterMismatch"
	CodeIncompleteSignature                = "IncompleteSignature"
	CodeIncorrectState                     = "IncorrectInstanceState"
	CodeInstanceLimitExceeded              = "InstanceLimitExceeded"
	CodeInsufficientAddresses              = "InsufficientFreeAddressesInSubnet"
	CodeInsufficientCidrBlocks             = "InsufficientCidrBlocks"
	CodeInternalError                      = "InternalError"
	CodeInvalidAction                      = "InvalidAction"
	CodeInvalidBlockDeviceMapping          = "InvalidBlockDeviceMapping"
	CodeInvalidCidrBlockInUse              = "InvalidCidrBlock.InUse"
	CodeInvalidClientTokenID               = "InvalidClientTokenId" // STS's AuthFailure
	CodeInvalidGroupDuplicate              = "InvalidGroup.Duplicate"
	CodeInvalidGroupNotFound               = "InvalidGroup.NotFound"
	CodeInvalidGroupReserved               = "InvalidGroup.Reserved"
	CodeInvalidGroupIDMalformed            = "InvalidGroupId.Malformed"
	CodeInsufficientInstanceCapacity       = "InsufficientInstanceCapacity"
	CodeInvalidHostIDMalformed             = "InvalidHostId.Malformed"
	CodeInvalidHostIDNotFound              = "InvalidHostID.NotFound"
	CodeInvalidID                          = "InvalidID"
	CodeInvalidInstanceID                  = "InvalidInstanceID"
	CodeInvalidInstanceIDMalformed         = "InvalidInstanceID.Malformed"
	CodeInvalidInstanceIDNotFound          = "InvalidInstanceID.NotFound"
	CodeInvalidIPAddressInUse              = "InvalidIPAddress.InUse"
	CodeInvalidKeyPairNotFound             = "InvalidKeyPair.NotFound"
	CodeInvalidLabHostDuplicate            = "InvalidLabHost.Duplicate" // Palisade's lab hosts
	CodeInvalidLabHostNotFound             = "InvalidLabHost.NotFound"  // Palisade's lab hosts
	CodeInvalidNetworkInterfaceInUse       = "InvalidNetworkInterface.InUse"
	CodeInvalidNetworkInterfaceIDMalformed = "InvalidNetworkInterfaceID.Malformed"
	CodeInvalidNetworkInterfaceIDNotFound  = "InvalidNetworkInterfaceID.NotFound"
	CodeInvalidParameter                   = "InvalidParameter"
	CodeInvalidParameterCombination        = "InvalidParameterCombination"
	CodeInvalidParameterValue              = "InvalidParameterValue"
	CodeInvalidPeeringIDNotFound           = "InvalidVpcPeeringConnectionID.NotFound"
	CodeInvalidPermissionDuplicate         = "InvalidPermission.Duplicate"
	CodeInvalidPermissionMalformed         = "InvalidPermission.Malformed"
	CodeInvalidPermissionNotFound          = "InvalidPermission.NotFound"
	CodeInvalidPlacementGroupUnknown       = "InvalidPlacementGroup.Unknown"
	CodeInvalidPrefixListIDMalformed       = "InvalidPrefixListID.Malformed"
	CodeInvalidPrefixListIDNotFound        = "InvalidPrefixListID.NotFound"
	CodeInvalidQueryParameter              = "InvalidQueryParameter" // a query that cannot be canonicalized
	CodeInvalidRuleIDMalformed             = "InvalidSecurityGroupRuleId.Malformed"
	CodeInvalidRuleIDNotFound              = "InvalidSecurityGroupRuleId.NotFound"
	CodeInvalidSubnetConflict              = "InvalidSubnet.Conflict"
	CodeInvalidSubnetRange                 = "InvalidSubnet.Range"
	CodeInvalidSubnetAssocNotFound         = "InvalidSubnetCidrBlockAssociationID.NotFound"
	CodeInvalidSubnetIDMalformed           = "InvalidSubnetID.Malformed"
	CodeInvalidSubnetIDNotFound            = "InvalidSubnetID.NotFound"
	CodeInvalidVpcRange                    = "InvalidVpc.Range"
	CodeInvalidVpcAssocNotFound            = "InvalidVpcCidrBlockAssociationID.NotFound"
	CodeInvalidVpcIDMalformed              = "InvalidVpcID.Malformed"
	CodeInvalidVpcIDNotFound               = "InvalidVpcID.NotFound"
	CodeMethodNotAllowed                   = "MethodNotAllowed" // an HTTP method other than GET and POST
	CodeMissingAction                      = "MissingAction"
	CodeMissingAuthenticationToken         = "MissingAuthenticationToken"
	CodeMissingInput                       = "MissingInput"
	CodeMissingParameter                   = "MissingParameter"
	CodeNoSuchVersion                      = "NoSuchVersion"
	CodeOperationNotPermitted              = "OperationNotPermitted"
	CodePrefixListVersionMismatch          = "PrefixListVersionMismatch"
	CodePrivateIPAddressLimitExceeded      = "PrivateIpAddressLimitExceeded"
	CodeRequestCanceled                    = "RequestCanceled"
	CodeRequestExpired                     = "RequestExpired"
	CodeRequestLimitExceeded               = "RequestLimitExceeded"
	CodeInvalidFlowLogIDNotFound           = "InvalidFlowLogId.NotFound"
	CodeInvalidFlowLogIDMalformed          = "InvalidFlowLogId.Malformed"
	CodeFlowLogAlreadyExists               = "FlowLogAlreadyExists"
	CodeUnsupportedOperation               = "UnsupportedOperation"
	CodeRulesPerGroupLimitExceeded         = "RulesPerSecurityGroupLimitExceeded"
	CodeGroupLimitExceeded                 = "SecurityGroupLimitExceeded"
	CodeGroupsPerInterfaceLimitExceeded    = "SecurityGroupsPerInterfaceLimitExceeded"
	CodeServiceUnavailable                 = "ServiceUnavailable" // retryable: the store (etcd) does not answer
	CodeSignatureDoesNotMatch              = "SignatureDoesNotMatch"
	CodeTagLimitExceeded                   = "TagLimitExceeded"
	CodeUnauthorizedOperation              = "UnauthorizedOperation"
	CodeUnavailable                        = "Unavailable" // retryable: e.g. the store's disk is full
	CodeUnknownParameter                   = "UnknownParameter"
	CodeVPCIDNotSpecified                  = "VPCIdNotSpecified"
)

// HTTP statuses of the codes (the numbers of net/http, which model does
// not import).
const (
	statusBadRequest         = 400
	statusUnauthorized       = 401
	statusForbidden          = 403
	statusMethodNotAllowed   = 405
	statusPreconditionFailed = 412
	statusInternalError      = 500
	statusUnavailable        = 503
)

// codeStatus is the table of every code and the HTTP status EC2 answers it
// with: 400 for a client's mistake unless said otherwise.
var codeStatus = map[string]int{
	CodeAccessKeyDuplicate: statusBadRequest, CodeAccountDuplicate: statusBadRequest,
	CodeAuthFailure: statusUnauthorized, CodeCannotDelete: statusBadRequest, CodeCidrLimitExceeded: statusBadRequest,
	CodeDefaultSubnetAlreadyExists: statusBadRequest, CodeDefaultVpcAlreadyExists: statusBadRequest,
	CodeDefaultVpcDoesNotExist: statusBadRequest, CodeDependencyViolation: statusBadRequest,
	CodeDryRunOperation: statusPreconditionFailed, CodeIdempotentParameterMismatch: statusBadRequest,
	CodeIncompleteSignature: statusBadRequest, CodeIncorrectState: statusBadRequest,
	CodeInstanceLimitExceeded: statusBadRequest, CodeInsufficientAddresses: statusBadRequest,
	CodeInsufficientCidrBlocks: statusBadRequest, CodeInternalError: statusInternalError,
	CodeInvalidAction: statusBadRequest, CodeInvalidCidrBlockInUse: statusBadRequest, CodeInvalidBlockDeviceMapping: statusBadRequest,
	CodeInvalidClientTokenID: statusForbidden, CodeInvalidGroupDuplicate: statusBadRequest,
	CodeInvalidGroupNotFound: statusBadRequest, CodeInvalidGroupReserved: statusBadRequest,
	CodeInvalidGroupIDMalformed: statusBadRequest, CodeInvalidID: statusBadRequest,
	CodeFlowLogAlreadyExists: statusBadRequest, CodeInvalidFlowLogIDMalformed: statusBadRequest,
	CodeInvalidFlowLogIDNotFound: statusBadRequest, CodeUnsupportedOperation: statusBadRequest,
	// A server error on EC2 (no capacity now, try later), as AWS lists it.
	CodeInsufficientInstanceCapacity: statusInternalError,
	CodeInvalidHostIDMalformed:       statusBadRequest, CodeInvalidHostIDNotFound: statusBadRequest,
	CodeInvalidInstanceID: statusBadRequest, CodeInvalidInstanceIDMalformed: statusBadRequest,
	CodeInvalidInstanceIDNotFound: statusBadRequest, CodeInvalidIPAddressInUse: statusBadRequest,
	CodeInvalidKeyPairNotFound: statusBadRequest, CodeInvalidLabHostDuplicate: statusBadRequest,
	CodeInvalidLabHostNotFound: statusBadRequest, CodeInvalidNetworkInterfaceInUse: statusBadRequest,
	CodeInvalidNetworkInterfaceIDMalformed: statusBadRequest, CodeInvalidNetworkInterfaceIDNotFound: statusBadRequest,
	CodeInvalidParameter: statusBadRequest, CodeInvalidParameterCombination: statusBadRequest,
	CodeInvalidParameterValue: statusBadRequest, CodeInvalidPeeringIDNotFound: statusBadRequest,
	CodeInvalidPermissionDuplicate: statusBadRequest, CodeInvalidPermissionMalformed: statusBadRequest,
	CodeInvalidPermissionNotFound: statusBadRequest, CodeInvalidPlacementGroupUnknown: statusBadRequest,
	CodeInvalidPrefixListIDMalformed: statusBadRequest,
	CodeInvalidPrefixListIDNotFound:  statusBadRequest, CodeInvalidQueryParameter: statusBadRequest,
	CodeInvalidRuleIDMalformed: statusBadRequest, CodeInvalidRuleIDNotFound: statusBadRequest,
	CodeInvalidSubnetConflict: statusBadRequest, CodeInvalidSubnetRange: statusBadRequest,
	CodeInvalidSubnetAssocNotFound: statusBadRequest, CodeInvalidSubnetIDMalformed: statusBadRequest,
	CodeInvalidSubnetIDNotFound: statusBadRequest, CodeInvalidVpcRange: statusBadRequest,
	CodeInvalidVpcAssocNotFound: statusBadRequest, CodeInvalidVpcIDMalformed: statusBadRequest,
	CodeInvalidVpcIDNotFound: statusBadRequest, CodeMethodNotAllowed: statusMethodNotAllowed,
	CodeMissingAction: statusBadRequest, CodeMissingAuthenticationToken: statusForbidden,
	CodeMissingInput: statusBadRequest, CodeMissingParameter: statusBadRequest,
	CodeNoSuchVersion: statusBadRequest, CodeOperationNotPermitted: statusBadRequest,
	CodePrefixListVersionMismatch: statusBadRequest, CodePrivateIPAddressLimitExceeded: statusBadRequest,
	CodeRequestCanceled: statusBadRequest, CodeRequestExpired: statusBadRequest,
	CodeRequestLimitExceeded: statusUnavailable, CodeRulesPerGroupLimitExceeded: statusBadRequest,
	CodeGroupLimitExceeded: statusBadRequest, CodeGroupsPerInterfaceLimitExceeded: statusBadRequest,
	CodeServiceUnavailable: statusUnavailable, CodeSignatureDoesNotMatch: statusForbidden,
	CodeTagLimitExceeded: statusBadRequest, CodeUnauthorizedOperation: statusForbidden,
	CodeUnavailable: statusUnavailable, CodeUnknownParameter: statusBadRequest,
	CodeVPCIDNotSpecified: statusBadRequest,
}

// HTTPStatus returns the HTTP status of an error code: its entry in the
// table; 500 for no code (a failure that is not the client's) and 400 for
// a code the table lacks (which a test keeps from happening).
func HTTPStatus(code string) int {
	if s, ok := codeStatus[code]; ok {
		return s
	}
	if code == "" {
		return statusInternalError
	}
	return statusBadRequest
}

// KnownCode reports whether code is in the table.
func KnownCode(code string) bool {
	_, ok := codeStatus[code]
	return ok
}
