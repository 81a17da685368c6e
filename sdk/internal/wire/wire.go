// Package wire holds the constants of the plugin handshake. They are part of
// the protocol: never change them.
package wire

import (
	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

const (
	// MagicCookieKey and MagicCookieValue are the go-plugin handshake cookie.
	// A plugin started without it tells the person who ran it that it is a
	// plugin, not a program. Never change them.
	MagicCookieKey   = "MIKROBILL_PLUGIN_MAGIC_COOKIE"
	MagicCookieValue = "4d1a0f1b-7c2e-4b8e-9a55-mikrobill-plugin-v1"

	// ProtocolVersion is the newest plugin protocol version this SDK speaks.
	// The host keeps serving version N-1 when N comes.
	ProtocolVersion = 1

	// PluginName is the single go-plugin plugin each binary serves.
	PluginName = "mikrobill"

	// EnvLogLevel tells a plugin the log level the host wants from it.
	EnvLogLevel = "MIKROBILL_PLUGIN_LOG_LEVEL"
	// EnvDataDir is the plugin's private data directory.
	EnvDataDir = "MIKROBILL_PLUGIN_DATA_DIR"
	// EnvClientCert is go-plugin's variable for the host's one-time TLS
	// certificate (public part only; the key never leaves the host).
	EnvClientCert = "PLUGIN_CLIENT_CERT"
	// EnvTLSFD names the inherited file descriptor from which a plugin
	// reads the one-time key and certificate the host made for it. It holds
	// a number, never a key.
	EnvTLSFD = "MIKROBILL_PLUGIN_TLS_FD"
)

// Handshake is the go-plugin handshake for ProtocolVersion.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   MagicCookieKey,
	MagicCookieValue: MagicCookieValue,
}

// MaxMessageSize bounds one gRPC message either way: webhooks and plugin HTTP
// routes carry request bodies up to the host's body limit (10 MiB by default)
// plus headers.
const MaxMessageSize = 64 << 20

// Flow-control windows and buffers. gRPC's default windows (64 KiB, grown
// by bandwidth estimation) make large payloads wait for window updates; on a
// local socket larger windows cost nothing (they bound what may be in
// flight, they allocate nothing). Measured by sdk/client's
// BenchmarkCallRatio (docs/BENCHMARKS.md). Both sides use the same values.
//
// The buffers stay at gRPC's 32 KiB, the write buffer taken from a pool
// for each flush. Every connection is TLS, which reads and writes one
// record (at most 16 KiB) per system call whatever the buffer around it, so
// larger buffers saved no system call; at 256 KiB they held 512 KiB per
// connection on each side, most of the idle host's live heap (64 KiB
// payloads through 16 callers: 1.18x and 1.23x bare go-plugin's
// throughput with 32 KiB buffers, 1.15x and 1.25x with 256 KiB, in the
// same runs).
const (
	initialWindowSize     = 4 << 20
	initialConnWindowSize = 16 << 20
	bufferSize            = 32 << 10
)

// ServerOptions are the gRPC server options a plugin serves with.
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(MaxMessageSize),
		grpc.MaxSendMsgSize(MaxMessageSize),
		grpc.InitialWindowSize(initialWindowSize),
		grpc.InitialConnWindowSize(initialConnWindowSize),
		grpc.ReadBufferSize(bufferSize),
		grpc.WriteBufferSize(bufferSize),
		grpc.SharedWriteBuffer(true),
	}
}

// DialOptions are the gRPC dial options the host dials plugins with.
func DialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageSize), grpc.MaxCallSendMsgSize(MaxMessageSize)),
		grpc.WithInitialWindowSize(initialWindowSize),
		grpc.WithInitialConnWindowSize(initialConnWindowSize),
		grpc.WithReadBufferSize(bufferSize),
		grpc.WithWriteBufferSize(bufferSize),
		grpc.WithSharedWriteBuffer(true),
	}
}
