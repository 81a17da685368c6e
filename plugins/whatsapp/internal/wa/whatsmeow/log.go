package whatsmeow

import (
	"fmt"

	"github.com/hashicorp/go-hclog"
	waLog "go.mau.fi/whatsmeow/util/log"
)

// logger sends whatsmeow's records to the plugin's hclog logger (JSON on
// stderr; stdout belongs to the go-plugin handshake). whatsmeow's module
// names ("Client/Socket") become hclog names.
//
// Debug records are dropped at every plugin log level: whatsmeow logs every
// protocol node it sends and receives and every QR code (which carries the
// device's pairing secret) at debug, and none of that may reach a log.
type logger struct {
	l hclog.Logger
}

var _ waLog.Logger = logger{}

// newLogger adapts l for whatsmeow.
func newLogger(l hclog.Logger) waLog.Logger { return logger{l: l} }

func (g logger) Errorf(msg string, args ...any) { g.l.Error(fmt.Sprintf(msg, args...)) }
func (g logger) Warnf(msg string, args ...any)  { g.l.Warn(fmt.Sprintf(msg, args...)) }
func (g logger) Infof(msg string, args ...any)  { g.l.Info(fmt.Sprintf(msg, args...)) }

// Debugf drops the record (see logger).
func (logger) Debugf(string, ...any) {}

func (g logger) Sub(module string) waLog.Logger { return logger{l: g.l.Named(module)} }
