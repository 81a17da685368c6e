package cli

import (
	"net"
	"net/netip"
)

// servingURLs are the URLs of the address serve really listens on (after
// listening, so port 0 shows the port the system gave): the listener's, and
// the one to open in a browser on this machine when the listener takes
// every interface (0.0.0.0 or [::]), else "".
func servingURLs(addr net.Addr) (listening, open string) {
	listening = "http://" + addr.String()
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil || !ap.Addr().IsUnspecified() {
		return listening, ""
	}
	return listening, "http://" + netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), ap.Port()).String()
}
