package convert

import (
	"fmt"

	pluginv1 "github.com/mikrobill/mikrobill/sdk/internal/pb/mikrobill/plugin/v1"
)

// HTTPPair is the one converter pair between the SDK's HTTP request and
// response (sdk.HTTPRequest, sdk.HTTPResponse) and their messages. It is
// written once, in package sdk beside the types (convert_to_proto.go,
// convert_from_proto.go); package sdk installs it here in init, so that a
// kind package (payment's webhooks) converts an HTTP request and response
// exactly as the base service's HandleHTTP does. This package cannot name
// the SDK's types (package sdk imports it): they are the type parameters.
type HTTPPair[Req, Resp any] struct {
	RequestToProto    func(Req) *pluginv1.HttpRequest
	RequestFromProto  func(*pluginv1.HttpRequest) Req
	ResponseToProto   func(Resp) *pluginv1.HttpResponse
	ResponseFromProto func(*pluginv1.HttpResponse) Resp
}

// httpPair is the HTTPPair package sdk installed.
var httpPair any

// InstallHTTP is called once, by package sdk's init.
func InstallHTTP[Req, Resp any](p HTTPPair[Req, Resp]) {
	httpPair = p
}

// HTTP returns the pair package sdk installed. Ask for it in a package-level
// variable of a package that imports sdk (sdk's init has run by then), with
// Req and Resp the SDK's types:
//
//	var httpConv = convert.HTTP[sdk.HTTPRequest, sdk.HTTPResponse]()
//
// Other types are a bug in the SDK: it panics, at init.
func HTTP[Req, Resp any]() HTTPPair[Req, Resp] {
	p, ok := httpPair.(HTTPPair[Req, Resp])
	if !ok {
		var req Req
		var resp Resp
		panic(fmt.Sprintf("convert: no HTTP converters for %T and %T; package sdk installs them for sdk.HTTPRequest and sdk.HTTPResponse", req, resp))
	}
	return p
}
