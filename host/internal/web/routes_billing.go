package web

import "github.com/gorilla/mux"

// billingRoutes installs invoices, payments, voucher redemption, jobs, and
// the payment webhooks (root, outside /api/v1).
func (s *Server) billingRoutes(root, api *mux.Router) {
	_, _ = root, api
}
