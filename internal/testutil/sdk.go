package testutil

import (
	"net/http"

	"palisade.dev/palisade/internal/client"
)

// SDKHTTPClient is the HTTP client for the tests' aws-sdk-go-v2 clients
// (client.SDKTransport, around aws-sdk-go-v2 #2737, over a clone of
// http.DefaultTransport).
var SDKHTTPClient = &http.Client{Transport: client.SDKTransport(http.DefaultTransport.(*http.Transport).Clone())}
