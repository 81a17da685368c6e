// Package serveopt holds the settings behind sdk.ServeOption, so that sdktest
// can set the ones authors never need (through Serve).
package serveopt

import (
	"crypto/tls"
	"io"

	"github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// Config is what sdk.Serve runs with.
type Config struct {
	// Logger replaces the default hclog JSON logger on stderr.
	Logger hclog.Logger
	// Test serves in go-plugin's test mode (in-process, reattach).
	Test *plugin.ServeTestConfig
	// TLS is an explicit server TLS configuration (test mode only).
	TLS *tls.Config
	// ServerOptions are extra gRPC server options.
	ServerOptions []grpc.ServerOption
	// Stdout is where the handshake line goes (default os.Stdout).
	Stdout io.Writer
	// Done, when set, receives Serve's outcome instead of Serve exiting the
	// process on an error (test mode).
	Done func(error)
}

// Serve is sdk.Serve with every setting given: package sdk sets it in init.
// impl is an sdk.Plugin (this package cannot name the type: package sdk
// imports it). sdktest serves in test mode through it; plugin authors call
// sdk.Serve with its options.
var Serve func(impl any, cfg *Config)
