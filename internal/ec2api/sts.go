package ec2api

import (
	"encoding/xml"
	"net/http"
	"strings"

	"palisade.dev/palisade/internal/auth"
	"palisade.dev/palisade/internal/model"
)

// The STS Query API, as much of it as clients of an EC2 endpoint need:
// sts:GetCallerIdentity, which SDKs and test harnesses (moto's server mode,
// docs/aws-semantics.md#wire-protocol) send to the same endpoint to learn the account. A
// request belongs to STS when its SigV4 credential scope names the service
// "sts"; it is then answered in STS's dialect, errors included.
const (
	stsService = "sts"
	// stsAction is the one STS action served.
	stsAction = "GetCallerIdentity"
	// STSVersion is the STS API version Palisade implements.
	STSVersion = "2011-06-15"
	// STSNamespace is the XML namespace of STS responses.
	STSNamespace = "https://sts.amazonaws.com/doc/" + STSVersion + "/"
)

// STS names an unknown access key differently from EC2's AuthFailure.
const (
	msgInvalidClientToken = "The security token included in the request is invalid."
)

// getCallerIdentityResponse is STS's answer, root element included.
type getCallerIdentityResponse struct {
	XMLName   xml.Name `xml:"GetCallerIdentityResponse"`
	Namespace string   `xml:"xmlns,attr"`
	Result    struct {
		Arn     string `xml:"Arn"`
		UserID  string `xml:"UserId"`
		Account string `xml:"Account"`
	} `xml:"GetCallerIdentityResult"`
	RequestID string `xml:"ResponseMetadata>RequestId"`
}

// serveSTS answers an STS request. Every Palisade key belongs to an account
// itself, so the caller is the account's root: UserId is the account ID, as
// STS answers for root credentials.
func serveSTS(w http.ResponseWriter, id auth.Identity, req *Request, reqID string) error {
	if req.Action != stsAction {
		return model.Errorf(model.CodeInvalidAction, "Could not find operation %s for version %s",
			clipValue(req.Action), STSVersion)
	}
	if err := req.CheckVersion(STSVersion); err != nil {
		return err
	}
	if err := req.Params.RejectUnread(); err != nil {
		return err
	}
	var resp getCallerIdentityResponse
	resp.Namespace = STSNamespace
	resp.Result.Arn = "arn:aws:iam::" + id.AccountID + ":root"
	resp.Result.UserID = id.AccountID
	resp.Result.Account = id.AccountID
	resp.RequestID = reqID
	doc, err := xml.MarshalIndent(resp, "", "  ")
	if err != nil {
		return err
	}
	writeXML(w, http.StatusOK, reqID, append([]byte(xmlHeader), doc...))
	return nil
}

// EncodeSTSError renders err as STS's error document and returns it with
// its HTTP status (the same table as EC2's):
//
//	<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
//	  <Error><Type>Sender</Type><Code>…</Code><Message>…</Message></Error>
//	  <RequestId>…</RequestId>
//	</ErrorResponse>
//
// Type is Receiver for server-side failures (5xx), Sender otherwise. An
// unknown access key is InvalidClientTokenId (403), as STS reports it,
// rather than EC2's AuthFailure.
func EncodeSTSError(err error, requestID string) (status int, body []byte) {
	e := wireError(err)
	status = Status(e.Code)
	if e.Code == model.CodeAuthFailure { // STS's word for an unknown access key
		e, status = &model.Error{Code: model.CodeInvalidClientTokenID, Message: msgInvalidClientToken}, http.StatusForbidden
	}
	typ := "Sender"
	if status >= 500 {
		typ = "Receiver"
	}
	var b strings.Builder
	b.WriteString(xmlHeader)
	b.WriteString(`<ErrorResponse xmlns="` + STSNamespace + `"><Error><Type>` + typ + "</Type><Code>")
	escapeText(&b, e.Code)
	b.WriteString("</Code><Message>")
	escapeText(&b, e.Message)
	b.WriteString("</Message></Error><RequestId>")
	escapeText(&b, requestID)
	b.WriteString("</RequestId></ErrorResponse>")
	return status, []byte(b.String())
}

func writeSTSError(w http.ResponseWriter, err error, requestID string) int {
	status, body := EncodeSTSError(err, requestID)
	writeXML(w, status, requestID, body)
	return status
}

// claimedService is the service a request's credential scope names, read
// before the signature is checked, so that even a failed STS request is
// answered in STS's dialect (an STS client cannot parse EC2's errors). ""
// when the request carries no readable scope.
func claimedService(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if a, err := auth.ParseAuthorization(h); err == nil {
			return a.Credential.Service
		}
		return ""
	}
	if c, err := auth.ParseCredential(r.URL.Query().Get("X-Amz-Credential")); err == nil {
		return c.Service
	}
	return ""
}
