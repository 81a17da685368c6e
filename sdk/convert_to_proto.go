package sdk

import (
	"github.com/mikrobill/mikrobill/sdk/internal/convert"
	pluginv1 "github.com/mikrobill/mikrobill/sdk/internal/pb/mikrobill/plugin/v1"
)

func describeRequestToProto(r *DescribeRequest) *pluginv1.DescribeRequest {
	if r == nil {
		return &pluginv1.DescribeRequest{}
	}
	return &pluginv1.DescribeRequest{HostVersion: r.HostVersion}
}

func describeResponseToProto(r *DescribeResponse) *pluginv1.DescribeResponse {
	if r == nil {
		return &pluginv1.DescribeResponse{}
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

func configureResponseToProto(r *ConfigureResponse) *pluginv1.ConfigureResponse {
	if r == nil {
		return &pluginv1.ConfigureResponse{}
	}
	return &pluginv1.ConfigureResponse{Warnings: append([]string(nil), r.Warnings...)}
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

func checkHealthResponseToProto(r *CheckHealthResponse) (*pluginv1.CheckHealthResponse, error) {
	if r == nil {
		return &pluginv1.CheckHealthResponse{}, nil
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

func principalToProto(p *Principal) *pluginv1.Principal {
	if p == nil {
		return nil
	}
	return &pluginv1.Principal{Subject: p.Subject, Role: p.Role}
}

func httpRequestToProto(r HTTPRequest) *pluginv1.HttpRequest {
	return &pluginv1.HttpRequest{
		Method:     r.Method,
		Path:       r.Path,
		RawQuery:   r.RawQuery,
		Headers:    convert.HeaderToProto(r.Header),
		Body:       r.Body,
		RemoteAddr: r.RemoteAddr,
		Host:       r.Host,
		ReceivedAt: convert.TimeToProto(r.ReceivedAt),
		RequestId:  r.RequestID,
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
