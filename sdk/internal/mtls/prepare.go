package mtls

import (
	"crypto/tls"
	"sync"
)

// A launch is on the critical path of every plugin start and restart. When
// the host made the plugin's key (NewLaunchPair), the plugin has nothing to
// generate. When it did not (a host that passes no key), Prepare starts the
// plugin's key in the background as early as possible, so it overlaps with
// the rest of the start-up; ServerConfig then waits only for what is not
// done yet.

type prepared struct {
	once sync.Once
	done chan struct{}
	cert tls.Certificate
	err  error
}

var early prepared

// Prepare starts making the certificate of this launch in the background.
// It is safe to call more than once; only the first call does anything.
func Prepare() {
	early.once.Do(func() {
		early.done = make(chan struct{})
		go func() {
			early.cert, _, early.err = NewCertificate()
			close(early.done)
		}()
	})
}

// takePrepared returns the prepared certificate (once), or ok=false when
// Prepare was not called or the certificate was taken already.
var takeMu sync.Mutex
var taken bool

func takePrepared() (tls.Certificate, bool, error) {
	takeMu.Lock()
	defer takeMu.Unlock()
	if early.done == nil || taken {
		return tls.Certificate{}, false, nil
	}
	<-early.done
	taken = true
	return early.cert, true, early.err
}
