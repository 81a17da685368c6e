package routertest_test

import (
	"fmt"

	"github.com/mikrobill/mikrobill/sdk/routertest"
)

// A test seeds the router, makes a command fail once, runs the code under
// test against Addr, and looks at the tables and the commands.
func Example() {
	r := routertest.New(routertest.Options{Password: "secret"})
	if err := r.Listen("127.0.0.1:0"); err != nil {
		panic(err)
	}
	defer r.Close()

	r.Add(routertest.MenuHotspotUser, map[string]string{"name": "walk-in", "comment": "set up by hand"})
	r.Add(routertest.MenuHotspotActive, map[string]string{"user": "walk-in", "address": "10.5.50.7"})
	r.Inject("/ip/hotspot/user/add", routertest.Fault{Trap: "failure: out of memory"})

	// ... the code under test talks to r.Addr() as admin/secret ...

	u, _ := r.Find(routertest.MenuHotspotUser, "walk-in")
	fmt.Println(u["profile"], u["disabled"], r.CountCommands("/ip/hotspot/user/add"))
	// Output: default false 0
}
