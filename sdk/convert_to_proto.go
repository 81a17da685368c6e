package sdk

import (
	"github.com/mikrobill/mikrobill/sdk/internal/convert"
	pluginv1 "github.com/mikrobill/mikrobill/sdk/internal/pb/mikrobill/plugin/v1"
)

// A nil request converts as the zero value. A nil response converts to nil,
// which the server guard (unaryGuard) answers with ErrInternal naming the
// method: an implementation returns a response or an error.

func init() {
	// The one HTTP converter pair, for the kind packages too (payment's
	// webhooks).
	convert.InstallHTTP(convert.HTTPPair[HTTPRequest, HTTPResponse]{
		RequestToProto:    httpRequestToProto,
		RequestFromProto:  httpRequestFromProto,
		ResponseToProto:   httpResponseToProto,
		ResponseFromProto: httpResponseFromProto,
	})
}

func describeRequestToProto(r *DescribeRequest) *pluginv1.DescribeRequest {
	if r == nil {
		return &pluginv1.DescribeRequest{}
	}
	return &pluginv1.DescribeRequest{HostVersion: r.HostVersion}
}

func describeResponseToProto(r *DescribeResponse) *pluginv1.DescribeResponse {
	if r == nil {
		return nil
	}
	return &pluginv1.DescribeResponse{
		Name:         r.Name,
		Version:      r.Version,
		Kind:         r.Kind,
		Capabilities: append([]string(nil), r.Capabilities...),
		SdkVersion:   r.SDKVersion,
		Description:  r.Description,
	}
}

// configureRequestToProto converts a request; hostBroker is the go-plugin
// broker id on which the host serves the host service to this plugin.
func configureRequestToProto(r *ConfigureRequest, hostBroker uint32) *pluginv1.ConfigureRequest {
	if r == nil {
		r = &ConfigureRequest{}
	}
	return &pluginv1.ConfigureRequest{
		SettingsJson:        r.Settings,
		HostServiceBrokerId: hostBroker,
		Environment:         r.Environment,
		HostVersion:         r.HostVersion,
		DataDir:             r.DataDir,
	}
}

func configureResponseToProto(r *ConfigureResponse) *pluginv1.ConfigureResponse {
	if r == nil {
		return nil
	}
	return &pluginv1.ConfigureResponse{Warnings: append([]string(nil), r.Warnings...)}
}

func checkHealthRequestToProto(*CheckHealthRequest) *pluginv1.CheckHealthRequest {
	return &pluginv1.CheckHealthRequest{}
}

func healthStatusToProto(s HealthStatus) pluginv1.HealthStatus {
	switch s {
	case HealthOK:
		return pluginv1.HealthStatus_HEALTH_STATUS_OK
	case HealthDegraded:
		return pluginv1.HealthStatus_HEALTH_STATUS_DEGRADED
	case HealthError:
		return pluginv1.HealthStatus_HEALTH_STATUS_ERROR
	default:
		return pluginv1.HealthStatus_HEALTH_STATUS_UNSPECIFIED
	}
}

// checkHealthResponseToProto fails when Details holds a value JSON cannot
// represent.
func checkHealthResponseToProto(r *CheckHealthResponse) (*pluginv1.CheckHealthResponse, error) {
	if r == nil {
		return nil, nil
	}
	details, err := convert.MapToStruct(r.Details)
	if err != nil {
		return nil, err
	}
	return &pluginv1.CheckHealthResponse{
		Status:  healthStatusToProto(r.Status),
		Message: r.Message,
		Details: details,
	}, nil
}

func collectMetricsRequestToProto(*CollectMetricsRequest) *pluginv1.CollectMetricsRequest {
	return &pluginv1.CollectMetricsRequest{}
}

func collectMetricsResponseToProto(r *CollectMetricsResponse) *pluginv1.CollectMetricsResponse {
	if r == nil {
		return nil
	}
	return &pluginv1.CollectMetricsResponse{PrometheusText: r.Text}
}

func eventToProto(e Event) *pluginv1.Event {
	return &pluginv1.Event{
		Id:       e.ID,
		Type:     e.Type,
		Source:   e.Source,
		Subject:  e.Subject,
		Time:     convert.TimeToProto(e.Time),
		DataJson: e.Data,
	}
}

func handleEventRequestToProto(r *HandleEventRequest) *pluginv1.HandleEventRequest {
	if r == nil {
		r = &HandleEventRequest{}
	}
	return &pluginv1.HandleEventRequest{Event: eventToProto(r.Event)}
}

func handleEventResponseToProto(r *HandleEventResponse) *pluginv1.HandleEventResponse {
	if r == nil {
		return nil
	}
	return &pluginv1.HandleEventResponse{}
}

func principalToProto(p *Principal) *pluginv1.Principal {
	if p == nil {
		return nil
	}
	return &pluginv1.Principal{Subject: p.Subject, Role: p.Role}
}

func httpRequestToProto(r HTTPRequest) *pluginv1.HttpRequest {
	// What HTTP lets a client send need not be UTF-8 (convert.Text).
	return &pluginv1.HttpRequest{
		Method:     convert.Text(r.Method),
		Path:       convert.Text(r.Path),
		RawQuery:   convert.Text(r.RawQuery),
		Headers:    convert.HeaderToProto(r.Header),
		Body:       r.Body,
		RemoteAddr: convert.Text(r.RemoteAddr),
		Host:       convert.Text(r.Host),
		ReceivedAt: convert.TimeToProto(r.ReceivedAt),
		RequestId:  convert.Text(r.RequestID),
		Principal:  principalToProto(r.Principal),
	}
}

func httpResponseToProto(r HTTPResponse) *pluginv1.HttpResponse {
	return &pluginv1.HttpResponse{
		StatusCode: int32(r.StatusCode),
		Headers:    convert.HeaderToProto(r.Header),
		Body:       r.Body,
	}
}

func handleHTTPRequestToProto(r *HandleHTTPRequest) *pluginv1.HandleHttpRequest {
	if r == nil {
		r = &HandleHTTPRequest{}
	}
	// Path parameters come from the decoded path: "%90" is the byte 0x90.
	var params map[string]string
	if r.PathParams != nil {
		params = make(map[string]string, len(r.PathParams))
		for k, v := range r.PathParams {
			params[convert.Text(k)] = convert.Text(v)
		}
	}
	return &pluginv1.HandleHttpRequest{
		Request:    httpRequestToProto(r.Request),
		Route:      r.Route,
		PathParams: params,
	}
}

func handleHTTPResponseToProto(r *HandleHTTPResponse) *pluginv1.HandleHttpResponse {
	if r == nil {
		return nil
	}
	return &pluginv1.HandleHttpResponse{Response: httpResponseToProto(r.Response)}
}
