// Package routertest is a fake MikroTik router for tests: a server that
// speaks the RouterOS API wire format (the protocol of /ip service "api"
// and, with TLS, "api-ssl") on a loopback port, over in-memory tables.
// Only the standard library is used.
//
// Start here: Start gives a listening router that the test closes for you;
// point the code under test at Addr (or Host and Port) with user "admin"
// and an empty password (Options change that), then look at what it did
// with Rows, Find, Commands and CountCommands:
//
//	func TestUpsert(t *testing.T) {
//		r := routertest.Start(t, routertest.Options{Password: "secret"})
//		// ... run the code under test against r.Addr() ...
//		u, ok := r.Find("/ip/hotspot/user", "alice")
//		if !ok || u["profile"] != "gold" {
//			t.Fatalf("user: %v", u)
//		}
//		if n := r.CountCommands("/ip/hotspot/user/set"); n != 0 {
//			t.Fatalf("%d set commands; want none", n)
//		}
//	}
//
// # Protocol
//
// Words are length-prefixed (all five length encodings), sentences end
// with a zero-length word. Replies are !re, !done, !trap (=message=,
// sometimes =category=), !fatal (then the connection closes) and, as in
// RouterOS 7.18 and later, !empty before the !done of a print that found
// no rows (Options.NoEmpty turns that off). A tagged command (.tag=) gets
// its tag on every reply sentence, so a client may send many tagged
// commands at once on one connection (go-routeros' async mode). A !trap is
// always followed by !done, as on a router.
//
// Logins: "/login =name= =password=" (RouterOS 6.43 and later), or the
// older MD5 challenge with Options.LegacyLogin. Any other command before
// login answers !trap =message=not logged in.
//
// # Menus
//
// /ip/hotspot/user, /ip/hotspot/user/profile, /ppp/secret and /ppp/profile
// answer print (=.proplist=, =count-only=, queries ?name=value, ?=name=value,
// ?name, ?-name, all ANDed), add (!done =ret=*ID), set, unset, remove,
// enable and disable (=.id= or =numbers= with a list of ids or names). add
// and set refuse what RouterOS refuses: an unknown parameter, a bad
// boolean or time value, a duplicate name, a profile that does not exist.
// Booleans print "true"/"false" and time values as RouterOS 7 prints them
// ("1h", "1d2h3m4s", or the 6.x form with Options.LegacyDurations).
// Profiles "default" (both menus) and "default-encryption" (PPP) exist from
// the start. /ip/hotspot/active and /ppp/active answer print and remove
// (seed sessions with Add). /system/resource and /system/identity answer
// print. Anything else answers !trap =category=0 =message=no such command
// prefix.
//
// # Faults
//
// Inject makes the next matching command slow (Fault.Delay), unanswered
// with the connection dropped (Drop), refused (Trap), fatal (Fatal), or
// applied with the router rebooting before it answers (RestartAfter).
// Restart reboots the router at any time (every connection drops, even in
// the middle of a command); Stop and Resume take it off the network and
// back.
//
// # go-routeros
//
// go-routeros v3.0.1 works against this router in sync mode, with both
// logins, plain and TLS. Its async mode sends a tagged command before it
// registers the tag, so an answer that comes back at once is dropped and
// the call hangs (go-routeros issue #33); a real router on a LAN hits that
// too, and so does this one on loopback. Use sync mode, or set
// Options.Latency (a millisecond or two) to test async code.
//
// The command fake-routeros (cmd/fake-routeros) serves the same router for
// local demos.
package routertest
