package marketplace

import (
	"context"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"time"
)

// Handler serves a repository folder's repository/ as static files, as any
// static web server would (Range requests included, so cut downloads
// resume). Nothing but repository/ is reachable: not the keys.
func Handler(dir string) http.Handler {
	fs := http.FileServer(http.Dir(filepath.Join(dir, RepositoryDir)))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		// Metadata changes in place (timestamp.json): never cache it long.
		w.Header().Set("Cache-Control", "no-cache")
		fs.ServeHTTP(w, r)
	})
}

// Server serves a repository folder over HTTP.
type Server struct {
	ln  net.Listener
	srv *http.Server
}

// Listen starts serving dir's repository on addr (127.0.0.1:0 picks a
// port); URL says where.
func Listen(dir, addr string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Server{ln: ln, srv: &http.Server{Handler: Handler(dir), ReadHeaderTimeout: 10 * time.Second}}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			ln.Close()
		}
	}()
	return s, nil
}

// URL is the served repository's address, for `marketplace add`.
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }

// Close stops the server, letting requests in flight finish for up to
// five seconds.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.srv.Shutdown(ctx)
}
