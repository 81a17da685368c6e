package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"

	"github.com/mikrobill/mikrobill/host/internal/manifest"
	"github.com/mikrobill/mikrobill/sdk/client"
	"github.com/mikrobill/mikrobill/sdk/paymenttest/blackbox"
)

func newPluginTest(g *globals) *cobra.Command {
	var settings, invalid, hang string
	var verbose bool
	cmd := &cobra.Command{
		Use:   "test PATH",
		Short: "Run the payment conformance checks that need no fake gateway against a plugin, in any language",
		Long: `test starts the payment plugin in PATH (its folder, or its plugin.json) the way
the host does and runs the checks of the conformance kit that need no fake of
the gateway, in this order:

  launch                  the handshake line, mutual TLS and Describe served
  describe                Describe answers plugin.json's name and version, kind payment
  settings_refused        settings it cannot work with are refused as invalid
                          (default: an unknown key; --invalid-settings to choose)
  settings_accepted       --settings are accepted
  health                  CheckHealth answers within 1 s
  garbage_notification    a body that is no notification is refused
  unsigned_notification   a "paid" notification without a signature is refused
  oversized_notification  a 10 MiB body (the host's default limit) is refused,
                          not a transport error
  deadlines               with the gateway's API hanging (--hang-setting),
                          CreatePayment and GetPayment end at their 300 ms
                          deadline and CheckHealth stays fast
  shutdown                asked to stop, the plugin exits within 10 s

Each check prints PASS, FAIL or SKIP, what it expects and, when it failed,
what happened and what to do. The plugin may be written in any language:
docs/plugin-protocol.md is what it must speak. The whole kit, with a fake of
the gateway, is package github.com/mikrobill/mikrobill/sdk/paymenttest.

--settings is a JSON object, or @FILE to read one; keep it pointed at a test
API on this machine: the checks create payments with it. It exits with status
1 when a check fails.`,
		Example: `  mikrobill plugin test ./bin/plugins/payment-acme
  mikrobill plugin test --settings @acme-test.json --hang-setting base_url ./payment-acme`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			if filepath.Base(dir) == manifest.FileName {
				dir = filepath.Dir(dir)
			}
			opts := blackbox.Options{HangSetting: hang, StartTimeout: client.DefaultStartTimeout}
			var err error
			if opts.Settings, err = settingsFlag("--settings", settings); err != nil {
				return err
			}
			if opts.InvalidSettings, err = settingsFlag("--invalid-settings", invalid); err != nil {
				return err
			}
			if verbose {
				opts.Logger = hclog.New(&hclog.LoggerOptions{Name: "plugin-test", Output: g.stderr, Level: hclog.Debug})
			}
			results, err := blackbox.Run(cmd.Context(), dir, opts)
			if err != nil {
				return &exitError{code: 1, msg: err.Error()}
			}
			printResults(g.stdout, results)
			if blackbox.Failed(results) {
				return &exitError{code: 1, msg: fmt.Sprintf("%s: some checks failed; see above what to do", dir)}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&settings, "settings", "", "valid settings for the plugin: a JSON object, or @FILE")
	cmd.Flags().StringVar(&invalid, "invalid-settings", "", "settings the plugin must refuse: a JSON object, or @FILE (default: an unknown key)")
	cmd.Flags().StringVar(&hang, "hang-setting", "", "the setting that holds the gateway's API address; the deadlines check points it at a server that never answers")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "print the plugin's log on stderr")
	return cmd
}

// settingsFlag reads a flag's JSON object, inline or from @FILE; "" is nil.
func settingsFlag(flag, v string) (json.RawMessage, error) {
	if v == "" {
		return nil, nil
	}
	raw := []byte(v)
	if file, ok := strings.CutPrefix(v, "@"); ok {
		var err error
		if raw, err = os.ReadFile(file); err != nil {
			return nil, &exitError{code: 2, msg: fmt.Sprintf("%s: %v", flag, err)}
		}
	}
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, &exitError{code: 2, msg: fmt.Sprintf("%s: not a JSON object: %v", flag, err)}
	}
	return raw, nil
}

// printResults writes one block per check: status and name, what it
// expects, and for a failure what happened and what to do.
func printResults(w io.Writer, results []blackbox.Result) {
	counts := map[blackbox.Status]int{}
	for _, r := range results {
		counts[r.Status]++
		fmt.Fprintf(w, "%s  %s\n      expected: %s\n", r.Status, r.Name, r.Expect)
		switch r.Status {
		case blackbox.Fail:
			fmt.Fprintf(w, "      got:      %s\n", r.Got)
			if r.Fix != "" {
				fmt.Fprintf(w, "      do:       %s\n", r.Fix)
			}
		case blackbox.Skip:
			fmt.Fprintf(w, "      skipped:  %s\n", r.Got)
			if r.Fix != "" {
				fmt.Fprintf(w, "      to run:   %s\n", r.Fix)
			}
		}
	}
	fmt.Fprintf(w, "%d passed, %d failed, %d skipped\n", counts[blackbox.Pass], counts[blackbox.Fail], counts[blackbox.Skip])
}
