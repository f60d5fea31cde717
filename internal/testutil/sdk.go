package testutil

import "palisade.dev/palisade/internal/client"

// SDKHTTPClient is the HTTP client for the tests' aws-sdk-go-v2 clients
// (client.SDKTransport, around aws-sdk-go-v2 #2737).
var SDKHTTPClient = client.NewSDKHTTPClient()
