package sdk

import (
	"github.com/mikrobill/mikrobill/sdk/internal/convert"
	pluginv1 "github.com/mikrobill/mikrobill/sdk/internal/pb/mikrobill/plugin/v1"
)

// Every converter here reads through the generated getters, so a nil message
// converts to the zero value.

func describeRequestFromProto(r *pluginv1.DescribeRequest) *DescribeRequest {
	return &DescribeRequest{HostVersion: r.GetHostVersion()}
}

func describeResponseFromProto(r *pluginv1.DescribeResponse) *DescribeResponse {
	return &DescribeResponse{
		Name:         r.GetName(),
		Version:      r.GetVersion(),
		Kind:         r.GetKind(),
		Capabilities: append([]string(nil), r.GetCapabilities()...),
		SDKVersion:   r.GetSdkVersion(),
		Description:  r.GetDescription(),
	}
}

func configureRequestFromProto(r *pluginv1.ConfigureRequest) *ConfigureRequest {
	return &ConfigureRequest{
		Settings:    append([]byte(nil), r.GetSettingsJson()...),
		Environment: r.GetEnvironment(),
		HostVersion: r.GetHostVersion(),
		DataDir:     r.GetDataDir(),
	}
}

func configureResponseFromProto(r *pluginv1.ConfigureResponse) *ConfigureResponse {
	return &ConfigureResponse{Warnings: append([]string(nil), r.GetWarnings()...)}
}

func checkHealthRequestFromProto(*pluginv1.CheckHealthRequest) *CheckHealthRequest {
	return &CheckHealthRequest{}
}

func healthStatusFromProto(s pluginv1.HealthStatus) HealthStatus {
	switch s {
	case pluginv1.HealthStatus_HEALTH_STATUS_OK:
		return HealthOK
	case pluginv1.HealthStatus_HEALTH_STATUS_DEGRADED:
		return HealthDegraded
	default:
		// An unspecified status is an error: a plugin must say it is well.
		return HealthError
	}
}

func checkHealthResponseFromProto(r *pluginv1.CheckHealthResponse) *CheckHealthResponse {
	return &CheckHealthResponse{
		Status:  healthStatusFromProto(r.GetStatus()),
		Message: r.GetMessage(),
		Details: convert.StructToMap(r.GetDetails()),
	}
}

func collectMetricsRequestFromProto(*pluginv1.CollectMetricsRequest) *CollectMetricsRequest {
	return &CollectMetricsRequest{}
}

func collectMetricsResponseFromProto(r *pluginv1.CollectMetricsResponse) *CollectMetricsResponse {
	return &CollectMetricsResponse{Text: r.GetPrometheusText()}
}

func eventFromProto(e *pluginv1.Event) Event {
	return Event{
		ID:      e.GetId(),
		Type:    e.GetType(),
		Source:  e.GetSource(),
		Subject: e.GetSubject(),
		Time:    convert.TimeFromProto(e.GetTime()),
		Data:    append([]byte(nil), e.GetDataJson()...),
	}
}

func handleEventRequestFromProto(r *pluginv1.HandleEventRequest) *HandleEventRequest {
	return &HandleEventRequest{Event: eventFromProto(r.GetEvent())}
}

func handleEventResponseFromProto(*pluginv1.HandleEventResponse) *HandleEventResponse {
	return &HandleEventResponse{}
}

func principalFromProto(p *pluginv1.Principal) *Principal {
	if p == nil {
		return nil
	}
	return &Principal{Subject: p.GetSubject(), Role: p.GetRole()}
}

func httpRequestFromProto(r *pluginv1.HttpRequest) HTTPRequest {
	return HTTPRequest{
		Method:     r.GetMethod(),
		Path:       r.GetPath(),
		RawQuery:   r.GetRawQuery(),
		Header:     convert.HeaderFromProto(r.GetHeaders()),
		Body:       r.GetBody(),
		RemoteAddr: r.GetRemoteAddr(),
		Host:       r.GetHost(),
		ReceivedAt: convert.TimeFromProto(r.GetReceivedAt()),
		RequestID:  r.GetRequestId(),
		Principal:  principalFromProto(r.GetPrincipal()),
	}
}

func httpResponseFromProto(r *pluginv1.HttpResponse) HTTPResponse {
	return HTTPResponse{
		StatusCode: int(r.GetStatusCode()),
		Header:     convert.HeaderFromProto(r.GetHeaders()),
		Body:       r.GetBody(),
	}
}

func handleHTTPRequestFromProto(r *pluginv1.HandleHttpRequest) *HandleHTTPRequest {
	return &HandleHTTPRequest{
		Request:    httpRequestFromProto(r.GetRequest()),
		Route:      r.GetRoute(),
		PathParams: r.GetPathParams(),
	}
}

func handleHTTPResponseFromProto(r *pluginv1.HandleHttpResponse) *HandleHTTPResponse {
	return &HandleHTTPResponse{Response: httpResponseFromProto(r.GetResponse())}
}
