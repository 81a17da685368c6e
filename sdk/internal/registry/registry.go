// Package registry connects the SDK's packages without import cycles.
//
// Package sdk holds the base types and serves plugins; the kind packages
// (payment, router, notify, audit) import sdk and register their gRPC adapters
// here in init; package sdk reads the registry when it serves, and package
// client reads it when the host dials. Authors never see it.
package registry

import (
	"fmt"
	"sort"
	"sync"

	"google.golang.org/grpc"
)

// Kind is one plugin kind's adapters.
type Kind struct {
	// Name as in the manifest: "payment", "router", ...
	Name string
	// Implements reports whether impl implements the kind's Go interface.
	Implements func(impl any) bool
	// Capabilities lists the optional capabilities impl implements.
	Capabilities func(impl any) []string
	// RegisterServer registers the kind's gRPC service for impl.
	RegisterServer func(s grpc.ServiceRegistrar, impl any)
	// NewClient returns the kind's Go interface over cc; base is the base
	// client (an sdk.Plugin) that the kind client embeds.
	NewClient func(cc grpc.ClientConnInterface, base any) any
}

var (
	mu    sync.RWMutex
	kinds = map[string]Kind{}
)

// RegisterKind adds a kind. It panics when a kind registers twice.
func RegisterKind(k Kind) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := kinds[k.Name]; dup {
		panic("registry: kind " + k.Name + " registered twice")
	}
	kinds[k.Name] = k
}

// LookupKind returns a registered kind.
func LookupKind(name string) (Kind, bool) {
	mu.RLock()
	defer mu.RUnlock()
	k, ok := kinds[name]
	return k, ok
}

// DetectKind returns the one kind impl implements. ok is false when it
// implements none (a generic plugin); err is set when it implements several.
func DetectKind(impl any) (k Kind, ok bool, err error) {
	mu.RLock()
	defer mu.RUnlock()
	var found []Kind
	for _, k := range kinds {
		if k.Implements(impl) {
			found = append(found, k)
		}
	}
	switch len(found) {
	case 0:
		return Kind{}, false, nil
	case 1:
		return found[0], true, nil
	default:
		names := make([]string, len(found))
		for i, f := range found {
			names[i] = f.Name
		}
		sort.Strings(names)
		return Kind{}, false, fmt.Errorf("%T implements the interfaces of several plugin kinds (%v); a plugin has exactly one kind: split it into one plugin per kind", impl, names)
	}
}

// Hooks set by package sdk in init, used by package client on the host side.
var (
	// NewBaseClient returns the base client (sdk.Plugin, sdk.EventHandler,
	// sdk.HTTPHandler) over cc. hostBroker returns the go-plugin broker id
	// on which the host serves the host service to the process behind cc;
	// Configure sends it.
	NewBaseClient func(cc grpc.ClientConnInterface, hostBroker func() uint32) any
	// RegisterHostServer registers the host service for host (an sdk.Host).
	RegisterHostServer func(s grpc.ServiceRegistrar, host any)
)
