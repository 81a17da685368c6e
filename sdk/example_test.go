package sdk_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/mikrobill/mikrobill/sdk"
)

// Greeter is a generic plugin: it implements only sdk.Plugin, with sdk.Base
// supplying Configure, CheckHealth and CollectMetrics.
type Greeter struct {
	sdk.Base
}

// Describe says who the plugin is; it must match the plugin's plugin.json.
func (g *Greeter) Describe(context.Context, *sdk.DescribeRequest) (*sdk.DescribeResponse, error) {
	return &sdk.DescribeResponse{Name: "greeter", Version: "1.0.0", Description: "Says hello"}, nil
}

// A plugin's main calls Serve and does nothing else. Serve speaks the
// handshake with the host, serves until the host stops the plugin, and
// explains itself and exits when someone runs the program by hand.
func ExampleServe() {
	// func main() {
	sdk.Serve(&Greeter{})
	// }
}

// A plugin decodes its settings in Configure. Defaults go into the value
// first; the operator's settings override them, and a field the plugin does
// not know is an error that names it.
func ExampleDecodeConfig() {
	type settings struct {
		ServerKey string `json:"server_key"`
		Sandbox   bool   `json:"sandbox"`
	}

	cfg := settings{Sandbox: true}
	err := sdk.DecodeConfig(json.RawMessage(`{"server_key":"SB-Mid-server-123"}`), &cfg)
	fmt.Printf("%+v %v\n", cfg, err)

	err = sdk.DecodeConfig(json.RawMessage(`{"server_key":"x","sandbx":false}`), &cfg)
	fmt.Println(err)
	// Output:
	// {ServerKey:SB-Mid-server-123 Sandbox:true} <nil>
	// invalid argument: settings: unknown field "sandbx"; check the plugin's config_schema for the fields it takes
}
