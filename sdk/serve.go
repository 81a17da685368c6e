package sdk

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/mikrobill/mikrobill/sdk/internal/mtls"
	pluginv1 "github.com/mikrobill/mikrobill/sdk/internal/pb/mikrobill/plugin/v1"
	"github.com/mikrobill/mikrobill/sdk/internal/registry"
	"github.com/mikrobill/mikrobill/sdk/internal/rpcerr"
	"github.com/mikrobill/mikrobill/sdk/internal/serveopt"
	"github.com/mikrobill/mikrobill/sdk/internal/wire"
)

// Version is the version of this SDK, reported to the host by Describe.
const Version = "0.1.0"

// ServeOption changes how Serve runs. Most plugins need none; the functions
// of this package that return one (WithLogger) are the options there are.
type ServeOption interface {
	applyServe(cfg *serveopt.Config)
}

// serveOption is a ServeOption that is a function.
type serveOption func(*serveopt.Config)

func (o serveOption) applyServe(cfg *serveopt.Config) { o(cfg) }

// WithLogger replaces the default logger (hclog JSON on stderr). Keep JSON
// output on stderr, or the host cannot forward the plugin's log lines at
// their levels.
func WithLogger(l hclog.Logger) ServeOption {
	return serveOption(func(c *serveopt.Config) { c.Logger = l })
}

func init() {
	// sdktest (and this package's tests) serve in test mode, with settings
	// no author needs, through serveopt.Serve.
	serveopt.Serve = func(impl any, cfg *serveopt.Config) {
		p, _ := impl.(Plugin)
		serveConfigured(p, cfg)
	}
}

// shutdownTimeout bounds Shutdowner.Shutdown after the host has stopped the
// plugin; the host kills the process at its own deadline anyway.
const shutdownTimeout = 10 * time.Second

// Serve serves impl as a mikrobill plugin until the host stops it. Call it
// from main and do nothing else there:
//
//	func main() { sdk.Serve(&Gateway{}) }
//
// Serve finds the plugin's kind from the interface impl implements
// (payment.Gateway, router.Router, notify.Notifier, audit.Sink, or only
// sdk.Plugin for a generic plugin), speaks the go-plugin handshake with
// mutual TLS, serves the base and kind gRPC services, recovers panics into
// errors, and logs hclog JSON to stderr. Nothing else may be written to
// stdout: Serve sends stray writes there to stderr.
//
// Started by hand rather than by the host, Serve explains that and exits 1.
func Serve(impl Plugin, opts ...ServeOption) {
	cfg := &serveopt.Config{}
	for _, o := range opts {
		if o != nil {
			o.applyServe(cfg)
		}
	}
	serveConfigured(impl, cfg)
}

// serveConfigured is Serve once the options are applied.
func serveConfigured(impl Plugin, cfg *serveopt.Config) {
	if cfg.Test == nil && os.Getenv(wire.EnvClientCert) != "" && os.Getenv(wire.EnvTLSFD) == "" {
		// The host did not make our key: start making it now, in parallel
		// with the rest of the start-up.
		mtls.Prepare()
	}
	if cfg.Test == nil && os.Getenv(wire.MagicCookieKey) != wire.MagicCookieValue {
		fmt.Fprintf(os.Stderr, "%s is a mikrobill plugin: the mikrobill host starts it, it is not run by hand.\n"+
			"To install it, put it with its plugin.json in a folder under the host's plugin directory and run\n"+
			"`mikrobill plugin lock`; to check it, run `mikrobill plugin validate <folder>`.\n", os.Args[0])
		os.Exit(1)
	}
	err := serve(impl, cfg)
	if cfg.Done != nil {
		cfg.Done(err)
		return
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "mikrobill plugin: %v\n", err)
		os.Exit(1)
	}
}

func serve(impl Plugin, cfg *serveopt.Config) error {
	if impl == nil {
		return errors.New("sdk.Serve was given a nil plugin")
	}
	logger := cfg.Logger
	if logger == nil {
		logger = newLogger(os.Getenv(wire.EnvLogLevel))
	}
	kind, hasKind, err := registry.DetectKind(impl)
	if err != nil {
		return err
	}
	kindName := KindGeneric
	caps := baseCapabilities(impl)
	if hasKind {
		kindName = kind.Name
		caps = append(caps, kind.Capabilities(impl)...)
	}

	rt := &runtime{logger: logger, host: &hostProxy{}}
	if cfg.Test == nil {
		processLogger.Store(&logger)
	}
	if b, ok := impl.(binder); ok {
		b.bindRuntime(rt)
	}
	defer rt.host.close()

	sp := &serverPlugin{impl: impl, kind: kind, hasKind: hasKind, kindName: kindName, caps: caps, rt: rt}
	pc := &plugin.ServeConfig{
		HandshakeConfig:  wire.Handshake,
		VersionedPlugins: map[int]plugin.PluginSet{wire.ProtocolVersion: {wire.PluginName: sp}},
		Logger:           logger.Named("go-plugin"),
		Test:             cfg.Test,
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			opts = append(opts, wire.ServerOptions()...)
			opts = append(opts,
				grpc.ChainUnaryInterceptor(unaryGuard(logger)),
				grpc.ChainStreamInterceptor(streamGuard(logger)),
			)
			opts = append(opts, cfg.ServerOptions...)
			return grpc.NewServer(opts...)
		},
	}

	switch {
	case cfg.TLS != nil:
		tlsCfg := cfg.TLS
		pc.TLSProvider = func() (*tls.Config, error) { return tlsCfg, nil }
	case os.Getenv(wire.EnvClientCert) != "":
		// Mutual TLS with one-time P-256 keys (see internal/mtls): the key
		// the host made for this launch, or one of our own.
		tlsCfg, certLine, err := serverTLS(os.Getenv(wire.EnvClientCert), os.Getenv(wire.EnvTLSFD))
		if err != nil {
			return err
		}
		pc.TLSProvider = func() (*tls.Config, error) { return tlsCfg, nil }
		if cfg.Test == nil {
			restore, err := rewriteHandshake(cfg.Stdout, certLine)
			if err != nil {
				return err
			}
			defer restore()
		}
	}

	logger.Debug("serving plugin", "kind", kindName, "capabilities", caps, "sdk_version", Version)
	if cfg.Test == nil {
		go watchParent(logger, os.Getppid(), parentPoll)
	}
	plugin.Serve(pc)

	if s, ok := impl.(Shutdowner); ok {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			logger.Error("shutdown", "error", err)
		}
	}
	return nil
}

// parentPoll is how often a plugin checks that the host that started it is
// still there.
const parentPoll = time.Second

// watchParent ends the plugin when the host that started it goes away. On
// Linux the kernel's parent-death signal does it first; elsewhere this is
// what keeps a plugin from outliving its host.
func watchParent(logger hclog.Logger, ppid int, every time.Duration) {
	if ppid <= 1 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for range t.C {
		if os.Getppid() != ppid {
			logger.Error("the host that started this plugin is gone; exiting")
			os.Exit(1)
		}
	}
}

// serverTLS returns the plugin's TLS configuration: with the key and
// certificate the host passed on the inherited file descriptor fd, or with
// new ones when the host passed none.
func serverTLS(hostCertPEM, fd string) (*tls.Config, string, error) {
	if fd == "" {
		return mtls.ServerConfig([]byte(hostCertPEM))
	}
	n, err := strconv.Atoi(fd)
	if err != nil || n < 3 {
		return nil, "", fmt.Errorf("%s=%q is not an inherited file descriptor; the host that started this plugin is broken or not mikrobill", wire.EnvTLSFD, fd)
	}
	f := os.NewFile(uintptr(n), "mikrobill-tls")
	if f == nil {
		return nil, "", fmt.Errorf("file descriptor %d from %s is not open", n, wire.EnvTLSFD)
	}
	defer f.Close()
	bundle, err := io.ReadAll(io.LimitReader(f, 64<<10))
	if err != nil {
		return nil, "", fmt.Errorf("read the key the host passed: %w", err)
	}
	return mtls.ServerConfigFromBundle([]byte(hostCertPEM), bundle)
}

// serverPlugin is the go-plugin plugin a plugin process serves.
type serverPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	impl     Plugin
	kind     registry.Kind
	hasKind  bool
	kindName string
	caps     []string
	rt       *runtime
}

func (p *serverPlugin) GRPCServer(broker *plugin.GRPCBroker, s *grpc.Server) error {
	pluginv1.RegisterPluginServiceServer(s, &baseServer{
		impl: p.impl, kind: p.kindName, caps: p.caps, rt: p.rt, broker: broker,
	})
	if p.hasKind {
		p.kind.RegisterServer(s, p.impl)
	}
	return nil
}

func (p *serverPlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, errors.New("the plugin side of the SDK cannot dial a plugin; the host uses package client")
}

// unaryGuard recovers panics into ErrInternal, answers a nil response with
// ErrInternal (see the package doc), and maps every error returned by the
// implementation to a gRPC status.
func unaryGuard(logger hclog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if r := recover(); r != nil {
				logger.Error("recovered from panic", "method", info.FullMethod, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				resp, err = nil, rpcerr.ToStatus(fmt.Errorf("%w: plugin panicked in %s: %v", ErrInternal, info.FullMethod, r))
			}
		}()
		resp, err = handler(ctx, req)
		if err == nil && noResponse(resp) {
			resp, err = nil, errNoResponse(path.Base(info.FullMethod))
		}
		return resp, rpcerr.ToStatus(err)
	}
}

// noResponse reports whether a server method answered no message: the
// adapters convert an implementation's nil response to a nil message.
func noResponse(resp any) bool {
	if resp == nil {
		return true
	}
	m, ok := resp.(proto.Message)
	return ok && !m.ProtoReflect().IsValid()
}

// errNoResponse is the error for an implementation that returned neither a
// response nor an error: a bug in the plugin, reported as such.
func errNoResponse(method string) error {
	return fmt.Errorf("%w: %s returned neither a response nor an error; the plugin must return one of them (a bug to report to its author)", ErrInternal, method)
}

func streamGuard(logger hclog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
		defer func() {
			if r := recover(); r != nil {
				logger.Error("recovered from panic", "method", info.FullMethod, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				err = rpcerr.ToStatus(fmt.Errorf("%w: plugin panicked in %s: %v", ErrInternal, info.FullMethod, r))
			}
		}()
		return rpcerr.ToStatus(handler(srv, ss))
	}
}

// rewriteHandshake puts the plugin's certificate into the handshake line
// that go-plugin prints. go-plugin only prints a certificate for its own
// AutoMTLS (slow P-521 keys); with our TLS provider the sixth field is empty,
// so we fill it in, and the host's go-plugin client trusts that certificate.
// Everything written to stdout after the handshake goes to stderr: stdout
// belongs to the handshake.
func rewriteHandshake(out io.Writer, cert string) (restore func(), err error) {
	realStdout := os.Stdout
	if out == nil {
		out = realStdout
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("prepare handshake: %w", err)
	}
	os.Stdout = w
	done := make(chan struct{})
	go func() {
		defer close(done)
		br := bufio.NewReader(r)
		line, err := br.ReadString('\n')
		if err != nil && line == "" {
			return
		}
		parts := strings.Split(strings.TrimRight(line, "\r\n"), "|")
		if len(parts) >= 6 && parts[5] == "" {
			parts[5] = cert
		}
		_, _ = io.WriteString(out, strings.Join(parts, "|")+"\n")
		_, _ = io.Copy(os.Stderr, br)
	}()
	return func() {
		os.Stdout = realStdout
		_ = w.Close()
		<-done
		_ = r.Close()
	}, nil
}
