// Command benchplugin is a generic plugin served by sdk.Serve whose
// HandleHTTP echoes the request body: the "ours" side of the call benchmark.
package main

import (
	"context"

	"github.com/mikrobill/mikrobill/sdk"
)

type echo struct{ sdk.Base }

func (echo) Describe(context.Context, *sdk.DescribeRequest) (*sdk.DescribeResponse, error) {
	return &sdk.DescribeResponse{Name: "benchplugin", Version: "1.0.0"}, nil
}

func (echo) HandleHTTP(_ context.Context, req *sdk.HandleHTTPRequest) (*sdk.HandleHTTPResponse, error) {
	return &sdk.HandleHTTPResponse{Response: sdk.HTTPResponse{StatusCode: 200, Body: req.Request.Body}}, nil
}

func main() { sdk.Serve(&echo{}) }
