package billing

import (
	"errors"
	"fmt"

	"github.com/mikrobill/mikrobill/host/internal/plugins"
	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/audit"
	"github.com/mikrobill/mikrobill/sdk/notify"
	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/router"
)

// ErrNoPlugin: no plugin of that name (and kind) is installed.
var ErrNoPlugin = errors.New("no such plugin")

// Plugins is how billing reaches plugins: the host's plugin manager, or, in
// tests, implementations served with sdktest.
type Plugins interface {
	Payment(name string) (payment.Gateway, error)
	Router(name string) (router.Router, error)
	Notifier(name string) (notify.Notifier, error)
	// Audit returns the audit plugin, if one is installed and running.
	Audit() (audit.Sink, bool)
	// AuditInstalled reports whether an audit plugin is installed and
	// enabled, running or not: the host's audit log is then its delivery
	// queue.
	AuditInstalled() bool
}

// FromManager adapts the plugin manager.
func FromManager(m *plugins.Manager) Plugins { return managerPlugins{m} }

type managerPlugins struct{ m *plugins.Manager }

func (p managerPlugins) plugin(name, kind string) (*plugins.Plugin, error) {
	pl, ok := p.m.Plugin(name)
	if !ok || pl.Kind() != kind {
		return nil, fmt.Errorf("%w: no %s plugin named %q is installed", ErrNoPlugin, kind, name)
	}
	return pl, nil
}

func (p managerPlugins) Payment(name string) (payment.Gateway, error) {
	pl, err := p.plugin(name, sdk.KindPayment)
	if err != nil {
		return nil, err
	}
	return pl.Payment()
}

func (p managerPlugins) Router(name string) (router.Router, error) {
	pl, err := p.plugin(name, sdk.KindRouter)
	if err != nil {
		return nil, err
	}
	return pl.Router()
}

func (p managerPlugins) Notifier(name string) (notify.Notifier, error) {
	pl, err := p.plugin(name, sdk.KindNotify)
	if err != nil {
		return nil, err
	}
	return pl.Notifier()
}

func (p managerPlugins) AuditInstalled() bool {
	for _, pl := range p.m.Plugins() {
		if pl.Kind() == sdk.KindAudit && pl.State() != plugins.StateDisabled {
			return true
		}
	}
	return false
}

func (p managerPlugins) Audit() (audit.Sink, bool) {
	for _, pl := range p.m.Plugins() {
		if pl.Kind() == sdk.KindAudit && pl.State() != plugins.StateDisabled && pl.State() != plugins.StateFailed {
			a, err := pl.Audit()
			return a, err == nil
		}
	}
	return nil, false
}
