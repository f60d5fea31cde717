// Package client is what the palisade client subcommands share: finding the
// endpoint and credentials the way the aws CLI does, signing requests with
// SigV4, calling an action of the Query API, turning error documents into
// readable errors, and printing results as JSON or tables.
//
// Resolution, first match wins:
//
//   - endpoint: Options.EndpointURL (--endpoint-url), then AWS_ENDPOINT_URL
//     or the profile's endpoint_url (as aws-sdk-go-v2 resolves them,
//     honouring AWS_IGNORE_CONFIGURED_ENDPOINT_URLS), then DefaultEndpoint;
//   - profile: Options.Profile (--profile), then AWS_PROFILE, then "default";
//   - credentials: aws-sdk-go-v2's default chain (AWS_ACCESS_KEY_ID and
//     AWS_SECRET_ACCESS_KEY, then the profile in AWS_SHARED_CREDENTIALS_FILE
//     or ~/.aws/credentials and AWS_CONFIG_FILE or ~/.aws/config, then SSO,
//     process and web-identity settings of the profile), except the EC2
//     instance metadata service, which is never asked: a Palisade endpoint
//     does not take an EC2 instance role's credentials;
//   - region: Options.Region (--region), then AWS_REGION, AWS_DEFAULT_REGION
//     and the profile's region, then DefaultRegion (the aws CLI would fail
//     instead; Palisade's account actions do not depend on the region).
//
// This package imports nothing of Palisade's: it speaks the wire protocol
// only, like any other client.
package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
)

// Defaults used when nothing is configured.
const (
	DefaultEndpoint = "http://127.0.0.1:4566"
	DefaultRegion   = "us-east-1"
)

// The Query APIs a client calls.
const (
	EC2Service = "ec2"
	EC2Version = "2016-11-15"
	STSService = "sts"
	STSVersion = "2011-06-15"
)

// maxResponse bounds how much of a response body is read.
const maxResponse = 16 << 20

// Options are what a subcommand's flags say; empty fields are resolved as
// the package documentation describes.
type Options struct {
	EndpointURL string
	Profile     string
	Region      string
	// HTTPClient sends the requests; nil means one with a 30 s timeout.
	HTTPClient *http.Client
}

// Client calls Palisade's Query API.
type Client struct {
	endpoint string
	region   string
	creds    aws.CredentialsProvider
	signer   *v4.Signer
	http     *http.Client
	now      func() time.Time
}

// New resolves the endpoint, region and credentials. Credentials are not
// fetched yet: a missing or broken credentials setup fails the first call.
func New(ctx context.Context, opts Options) (*Client, error) {
	load := []func(*config.LoadOptions) error{config.WithEC2IMDSClientEnableState(imds.ClientDisabled)}
	if opts.Profile != "" {
		load = append(load, config.WithSharedConfigProfile(opts.Profile))
	}
	if opts.Region != "" {
		load = append(load, config.WithRegion(opts.Region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	endpoint, err := resolveEndpoint(opts.EndpointURL, cfg.BaseEndpoint)
	if err != nil {
		return nil, err
	}
	c := &Client{endpoint: endpoint, region: cfg.Region, creds: cfg.Credentials,
		signer: v4.NewSigner(), http: opts.HTTPClient, now: time.Now}
	if c.region == "" {
		c.region = DefaultRegion
	}
	if c.http == nil {
		c.http = &http.Client{Timeout: 30 * time.Second}
	}
	return c, nil
}

// resolveEndpoint picks the endpoint and checks that it is an http(s) URL.
func resolveEndpoint(flag string, configured *string) (string, error) {
	e := DefaultEndpoint
	switch {
	case flag != "":
		e = flag
	case configured != nil && *configured != "":
		e = *configured
	}
	u, err := url.Parse(e)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("endpoint %q is not an http:// or https:// URL", e)
	}
	return e, nil
}

// Endpoint returns the URL requests go to.
func (c *Client) Endpoint() string { return c.endpoint }

// Region returns the region requests are signed for.
func (c *Client) Region() string { return c.region }

// Call calls an EC2 Query action (Palisade's own included) and decodes the
// response document into out (a struct with encoding/xml tags matching the
// children of <ActionResponse>; nil to discard it). A failure the server
// reports is an *APIError.
func (c *Client) Call(ctx context.Context, action string, params url.Values, out any) error {
	return c.Query(ctx, EC2Service, EC2Version, action, params, out)
}

// Query calls an action of a Query API: the form is params plus Action and
// Version, POSTed and signed for service.
func (c *Client) Query(ctx context.Context, service, version, action string, params url.Values, out any) error {
	form := url.Values{}
	for k, v := range params {
		form[k] = v
	}
	form.Set("Action", action)
	form.Set("Version", version)
	body := form.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, strings.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s: %w", action, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	if err := c.sign(ctx, req, body, service); err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w (is palisade serve running at %s?)", action, err, c.endpoint)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return fmt.Errorf("%s: read response: %w", action, err)
	}
	if resp.StatusCode != http.StatusOK {
		return decodeError(resp.StatusCode, data)
	}
	if out == nil {
		return nil
	}
	if err := xml.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s: decode response: %w", action, err)
	}
	return nil
}

// sign adds the SigV4 signature of req, whose body is body.
func (c *Client) sign(ctx context.Context, req *http.Request, body, service string) error {
	if c.creds == nil {
		return errNoCredentials(nil)
	}
	creds, err := c.creds.Retrieve(ctx)
	if err != nil {
		return errNoCredentials(err)
	}
	sum := sha256.Sum256([]byte(body))
	return c.signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), service, c.region, c.now())
}

func errNoCredentials(cause error) error {
	msg := "no AWS credentials found: set AWS_PROFILE (with AWS_SHARED_CREDENTIALS_FILE), " +
		"or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; palisade serve writes the admin's " +
		"to <data dir>/credentials, profile palisade"
	if cause == nil {
		return errors.New(msg)
	}
	return fmt.Errorf("%s: %w", msg, cause)
}

// APIError is a failure the server reported in an EC2 or STS error
// document.
type APIError struct {
	StatusCode int
	Code       string
	Message    string
	RequestID  string
}

// Error returns "Code: Message".
func (e *APIError) Error() string { return e.Code + ": " + e.Message }

// errorDoc reads both dialects: EC2's
// <Response><Errors><Error>…</Error></Errors><RequestID/></Response> and
// STS's <ErrorResponse><Error>…</Error><RequestId/></ErrorResponse>.
type errorDoc struct {
	EC2Errors []errorItem `xml:"Errors>Error"`
	STSError  *errorItem  `xml:"Error"`
	RequestID string      `xml:"RequestID"`
	RequestId string      `xml:"RequestId"` // STS spells it so
}

type errorItem struct {
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

// decodeError turns a non-200 response into an *APIError, or into a plain
// error quoting the body when it is not an error document (a proxy's page).
func decodeError(status int, body []byte) error {
	var doc errorDoc
	if err := xml.Unmarshal(body, &doc); err == nil {
		item := doc.STSError
		if len(doc.EC2Errors) > 0 {
			item = &doc.EC2Errors[0]
		}
		if item != nil && item.Code != "" {
			return &APIError{StatusCode: status, Code: item.Code, Message: item.Message,
				RequestID: doc.RequestID + doc.RequestId}
		}
	}
	snippet := string(bytes.TrimSpace(body))
	if len(snippet) > 200 {
		snippet = snippet[:200] + "…"
	}
	return fmt.Errorf("HTTP %d %s: %q", status, http.StatusText(status), snippet)
}
