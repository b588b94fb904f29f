package api

import _ "embed" // OpenAPI

// PathOpenAPI serves OpenAPI, the gateway's API as an OpenAPI 3.1 document.
const PathOpenAPI = "/v1/openapi.json"

// OpenAPI is the OpenAPI 3.1 document of the gateway's HTTP API
// (openapi.json beside this file): every route, its request body and
// parameters, each status code it answers with its body (Error for every
// non-2xx), the bearer schemes, and the partner callback as the webhook
// flowFinal. gateway's tests check it against the router and validate the
// requests and responses of the handler tests against it.
//
//go:embed openapi.json
var OpenAPI []byte
