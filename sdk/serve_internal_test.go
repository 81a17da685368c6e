package sdk

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/mikrobill/mikrobill/sdk/internal/serveopt"
)

// swapStderr points os.Stderr at a pipe until the returned function, which
// restores it and returns what was written.
func swapStderr(t *testing.T) (restore func() string) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	orig := os.Stderr
	os.Stderr = w
	got := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(r)
		got <- string(b)
	}()
	var out string
	done := false
	restore = func() string {
		if done {
			return out
		}
		done = true
		os.Stderr = orig
		_ = w.Close()
		out = <-got
		_ = r.Close()
		return out
	}
	t.Cleanup(func() { restore() })
	return restore
}

func TestRewriteHandshake(t *testing.T) {
	const cert = "MIIBcert"
	tests := []struct {
		name string
		// written is what the plugin writes to os.Stdout, handshake first.
		written    string
		wantStdout string
		wantStderr string
	}{
		{
			name:       "go-plugin line without a certificate",
			written:    "1|1|unix|/tmp/x|grpc|\n",
			wantStdout: "1|1|unix|/tmp/x|grpc|" + cert + "\n",
		},
		{
			name:       "line with a certificate is left alone",
			written:    "1|1|unix|/tmp/x|grpc|OTHERCERT\n",
			wantStdout: "1|1|unix|/tmp/x|grpc|OTHERCERT\n",
		},
		{
			name:       "CRLF line",
			written:    "1|1|unix|/tmp/x|grpc|\r\n",
			wantStdout: "1|1|unix|/tmp/x|grpc|" + cert + "\n",
		},
		{
			name:       "multiplexing field after the certificate",
			written:    "1|1|unix|/tmp/x|grpc||true\n",
			wantStdout: "1|1|unix|/tmp/x|grpc|" + cert + "|true\n",
		},
		{
			name:       "short line is left alone",
			written:    "1|1|unix|/tmp/x|grpc\n",
			wantStdout: "1|1|unix|/tmp/x|grpc\n",
		},
		{
			name:       "stray output after the handshake goes to stderr",
			written:    "1|1|unix|/tmp/x|grpc|\nhello from fmt.Println\nand more",
			wantStdout: "1|1|unix|/tmp/x|grpc|" + cert + "\n",
			wantStderr: "hello from fmt.Println\nand more",
		},
		{
			name:       "handshake without a newline",
			written:    "1|1|unix|/tmp/x|grpc|",
			wantStdout: "1|1|unix|/tmp/x|grpc|" + cert + "\n",
		},
		{
			name: "nothing written",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stderr := swapStderr(t)
			realStdout := os.Stdout
			var stdout bytes.Buffer
			restore, err := rewriteHandshake(&stdout, cert)
			if err != nil {
				t.Fatalf("rewriteHandshake: %v", err)
			}
			if os.Stdout == realStdout {
				restore()
				t.Fatal("os.Stdout was not replaced")
			}
			// As go-plugin and a careless plugin write: through os.Stdout.
			_, werr := fmt.Fprint(os.Stdout, tt.written)
			restore()
			if os.Stdout != realStdout {
				t.Fatal("restore did not put os.Stdout back")
			}
			if werr != nil {
				t.Fatalf("write: %v", werr)
			}
			if got := stdout.String(); got != tt.wantStdout {
				t.Errorf("stdout = %q, want %q", got, tt.wantStdout)
			}
			if got := stderr(); got != tt.wantStderr {
				t.Errorf("stderr = %q, want %q", got, tt.wantStderr)
			}
		})
	}
}

func TestServeOptions(t *testing.T) {
	l := hclog.NewNullLogger()
	cfg := &serveopt.Config{}
	for _, o := range []ServeOption{WithLogger(l)} {
		o.applyServe(cfg)
	}
	if cfg.Logger != l {
		t.Errorf("WithLogger set the logger to %v, want the one given", cfg.Logger)
	}
}
