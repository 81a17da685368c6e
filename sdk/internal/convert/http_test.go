package convert

import (
	"strings"
	"testing"

	pluginv1 "github.com/mikrobill/mikrobill/sdk/internal/pb/mikrobill/plugin/v1"
)

type request struct{ Method string }

type response struct{ StatusCode int }

func TestHTTP(t *testing.T) {
	saved := httpPair
	t.Cleanup(func() { httpPair = saved })
	InstallHTTP(HTTPPair[request, response]{
		RequestToProto:   func(r request) *pluginv1.HttpRequest { return &pluginv1.HttpRequest{Method: r.Method} },
		RequestFromProto: func(p *pluginv1.HttpRequest) request { return request{Method: p.GetMethod()} },
		ResponseToProto: func(r response) *pluginv1.HttpResponse {
			return &pluginv1.HttpResponse{StatusCode: int32(r.StatusCode)}
		},
		ResponseFromProto: func(p *pluginv1.HttpResponse) response { return response{StatusCode: int(p.GetStatusCode())} },
	})

	pair := HTTP[request, response]()
	if got := pair.RequestFromProto(pair.RequestToProto(request{Method: "POST"})); got.Method != "POST" {
		t.Errorf("request came back as %+v", got)
	}

	defer func() {
		r := recover()
		if r == nil || !strings.Contains(r.(string), "no HTTP converters for convert.response and convert.request") {
			t.Errorf("HTTP with the types swapped: recovered %v, want a panic naming them", r)
		}
	}()
	HTTP[response, request]()
}
