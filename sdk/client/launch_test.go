package client

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/go-hclog"
)

func TestHandshakeError(t *testing.T) {
	tests := []struct {
		name   string
		err    string
		exit   *exitInfo
		output string
		want   string
	}{
		{
			name:   "stray stdout",
			err:    "Unrecognized remote plugin message: hello\ncheck that /p is built for this platform",
			output: "panic: boom\n\ngoroutine 1 [running]:\n",
			want: `plugin handshake failed: it printed "hello" on stdout instead of the handshake; ` +
				"a plugin must write nothing to stdout (log to stderr) and call sdk.Serve, or, in another language, print only the handshake line 1|1|unix|SOCKET|grpc|CERTIFICATE (docs/plugin-protocol.md); its last output:\n" +
				"panic: boom\n\ngoroutine 1 [running]:",
		},
		{
			name: "stdout closed",
			err:  "Unrecognized remote plugin message: \nFailed to read any lines from plugin's stdout",
			want: "plugin handshake failed: it closed stdout without a handshake line",
		},
		{
			name: "timeout",
			err:  "timeout while waiting for plugin to start",
			want: "plugin handshake failed: it did not complete the handshake within the start timeout; it may be stuck before calling sdk.Serve (in another language: before printing the handshake line; check it sees MIKROBILL_PLUGIN_MAGIC_COOKIE and PLUGIN_PROTOCOL_VERSIONS), or the machine is overloaded (raise plugins.start_timeout if it just needs longer)",
		},
		{
			name:   "exited",
			err:    "plugin exited before we could connect",
			output: "  config missing\n",
			want:   "plugin handshake failed: it exited before the handshake; its last output:\nconfig missing",
		},
		{
			name: "exit status known",
			err:  "plugin exited before we could connect",
			exit: &exitInfo{err: errors.New("exit status 3")},
			want: "plugin handshake failed: it exited (exit status 3) before the handshake",
		},
		{
			name: "exited cleanly",
			err:  "Unrecognized remote plugin message: \nFailed to read any lines from plugin's stdout",
			exit: &exitInfo{},
			want: "plugin handshake failed: it exited (exit status 0) before the handshake",
		},
		{
			name: "incompatible protocol version",
			err:  "incompatible API version with plugin. Plugin version: 2, Client versions: [1]",
			exit: &exitInfo{err: errors.New("exit status 1")}, // the version says more than the exit
			want: "plugin handshake failed: incompatible API version with plugin. Plugin version: 2, Client versions: [1]; " +
				"rebuild the plugin with a mikrobill SDK that speaks a protocol version this host supports (in another language: the handshake line's first field must be 1 and its second one of the versions in PLUGIN_PROTOCOL_VERSIONS)",
		},
		{
			name: "incompatible core version",
			err:  "incompatible core API version with plugin. Plugin version: 2, Core version: 1",
			want: "plugin handshake failed: incompatible core API version with plugin. Plugin version: 2, Core version: 1; " +
				"rebuild the plugin with a mikrobill SDK that speaks a protocol version this host supports (in another language: the handshake line's first field must be 1 and its second one of the versions in PLUGIN_PROTOCOL_VERSIONS)",
		},
		{
			name: "net/rpc plugin",
			err:  `unsupported plugin protocol "netrpc". Supported: [grpc]`,
			want: "plugin handshake failed: it speaks go-plugin's net/rpc protocol; mikrobill plugins speak gRPC: sdk.Serve in Go; in another language the handshake line's fifth field is \"grpc\" (docs/plugin-protocol.md)",
		},
		{
			name:   "anything else",
			err:    "error parsing server cert: x509: malformed certificate",
			output: " \n\t",
			want:   "plugin handshake failed: error parsing server cert: x509: malformed certificate",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := handshakeError(errors.New(tt.err), tt.exit, tt.output)
			if !errors.Is(got, ErrHandshake) {
				t.Errorf("handshakeError = %v, want it to wrap ErrHandshake", got)
			}
			if got.Error() != tt.want {
				t.Errorf("handshakeError =\n  %q\nwant\n  %q", got, tt.want)
			}
		})
	}
}

func TestTailBuffer(t *testing.T) {
	tests := []struct {
		name   string
		writes []string
		want   string
	}{
		{name: "nothing", want: ""},
		{name: "under the limit", writes: []string{"abc", "de"}, want: "abcde"},
		{name: "exactly the limit", writes: []string{"abcd", "efgh"}, want: "abcdefgh"},
		{name: "over the limit across writes", writes: []string{"abc", "defghij"}, want: "cdefghij"},
		{name: "one write over the limit", writes: []string{"0123456789abcdef"}, want: "89abcdef"},
		{name: "many small writes", writes: []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10"}, want: "45678910"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &tailBuffer{max: 8}
			for _, w := range tt.writes {
				n, err := b.Write([]byte(w))
				if n != len(w) || err != nil {
					t.Fatalf("Write(%q) = %d, %v; want %d, nil", w, n, err, len(w))
				}
			}
			if got := b.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLineLogger(t *testing.T) {
	var buf bytes.Buffer
	logger := hclog.New(&hclog.LoggerOptions{Output: &buf, JSONFormat: true, Level: hclog.Trace})
	l := &lineLogger{log: logger.Named("payment-acme"), what: "plugin wrote to stdout after the handshake"}

	type entry struct {
		Level, Message, Module, Line string
	}
	logged := func() []entry {
		t.Helper()
		var out []entry
		sc := bufio.NewScanner(bytes.NewReader(buf.Bytes()))
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Fatalf("log line %q: %v", sc.Text(), err)
			}
			e := entry{}
			e.Level, _ = m["@level"].(string)
			e.Message, _ = m["@message"].(string)
			e.Module, _ = m["@module"].(string)
			e.Line, _ = m["line"].(string)
			out = append(out, e)
		}
		return out
	}
	want := func(lines ...string) []entry {
		var out []entry
		for _, l := range lines {
			out = append(out, entry{Level: "warn", Message: "plugin wrote to stdout after the handshake", Module: "payment-acme", Line: l})
		}
		return out
	}

	steps := []struct {
		write string
		want  []entry
	}{
		{write: "hel", want: nil},
		{write: "lo\nwor", want: want("hello")},
		{write: "ld\r\n", want: want("hello", "world")},
		{write: "a\n\nb\nparti", want: want("hello", "world", "a", "", "b")},
		{write: "al", want: want("hello", "world", "a", "", "b")},
		{write: "\n", want: want("hello", "world", "a", "", "b", "partial")},
	}
	for i, s := range steps {
		n, err := l.Write([]byte(s.write))
		if n != len(s.write) || err != nil {
			t.Fatalf("step %d: Write(%q) = %d, %v", i, s.write, n, err)
		}
		if diff := cmp.Diff(s.want, logged()); diff != "" {
			t.Errorf("step %d: after Write(%q) (-want +got):\n%s", i, s.write, diff)
		}
	}
}

func TestVerifySHA256(t *testing.T) {
	const path = "testdata/fake-plugin.sh"
	// sha256sum testdata/fake-plugin.sh
	const wantHex = "a8a784d30514c1ec3520cc094dbb3efab246b97b746fe258086640bce9854e9f"
	want, _ := hex.DecodeString(wantHex)

	got, err := FileSHA256(path)
	if err != nil {
		t.Fatalf("FileSHA256: %v", err)
	}
	if hex.EncodeToString(got) != wantHex {
		t.Errorf("FileSHA256 = %x, want %s", got, wantHex)
	}
	if err := VerifySHA256(path, want); err != nil {
		t.Errorf("VerifySHA256 with the right sum = %v, want nil", err)
	}

	wrong := bytes.Clone(want)
	wrong[0] ^= 0xff
	err = VerifySHA256(path, wrong)
	if !errors.Is(err, ErrChecksumMismatch) {
		t.Fatalf("VerifySHA256 with a wrong sum = %v, want ErrChecksumMismatch", err)
	}
	wantMsg := "executable does not match its checksum: testdata/fake-plugin.sh has sha256 " + wantHex + ", the lock file says " + hex.EncodeToString(wrong)
	if err.Error() != wantMsg {
		t.Errorf("VerifySHA256 =\n  %q\nwant\n  %q", err, wantMsg)
	}

	// A truncated sum is a mismatch, not a prefix match.
	if err := VerifySHA256(path, want[:16]); !errors.Is(err, ErrChecksumMismatch) {
		t.Errorf("VerifySHA256 with half the sum = %v, want ErrChecksumMismatch", err)
	}

	// A changed file no longer matches.
	changed := filepath.Join(t.TempDir(), "plugin")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(changed, append(raw, '\n'), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := VerifySHA256(changed, want); !errors.Is(err, ErrChecksumMismatch) {
		t.Errorf("VerifySHA256 of a changed file = %v, want ErrChecksumMismatch", err)
	}

	// A missing file is not a mismatch.
	err = VerifySHA256(filepath.Join(t.TempDir(), "missing"), want)
	if !errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrChecksumMismatch) {
		t.Errorf("VerifySHA256 of a missing file = %v, want fs.ErrNotExist and not ErrChecksumMismatch", err)
	}
}
