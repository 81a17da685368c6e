package web

import (
	"net/http"

	"github.com/gorilla/mux"
)

// catalogRoutes installs the catalog API: router locations, plans,
// customers, subscriptions, vouchers, message templates, plugin settings.
// Reading is for viewers, changing for operators; deleting the things
// others hang on (plans, locations, templates) and writing plugin settings
// is for admins. Voucher codes are bearer credentials, so listing them is
// for operators. The handlers are in catalog*.go.
func (s *Server) catalogRoutes(api *mux.Router) {
	if s.deps.DB == nil {
		return
	}
	const (
		get, post, put, del = http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete
	)
	s.route(api, get, "/locations", RoleViewer, s.listLocations)
	s.route(api, post, "/locations", RoleOperator, s.createLocation)
	s.route(api, get, "/locations/{id}", RoleViewer, s.getLocation)
	s.route(api, put, "/locations/{id}", RoleOperator, s.updateLocation)
	s.route(api, del, "/locations/{id}", RoleAdmin, s.deleteLocation)

	s.route(api, get, "/plans", RoleViewer, s.listPlans)
	s.route(api, post, "/plans", RoleOperator, s.createPlan)
	s.route(api, get, "/plans/{id}", RoleViewer, s.getPlan)
	s.route(api, put, "/plans/{id}", RoleOperator, s.updatePlan)
	s.route(api, del, "/plans/{id}", RoleAdmin, s.deletePlan)

	s.route(api, get, "/customers", RoleViewer, s.listCustomers)
	s.route(api, post, "/customers", RoleOperator, s.createCustomer)
	s.route(api, get, "/customers/{id}", RoleViewer, s.getCustomer)
	s.route(api, put, "/customers/{id}", RoleOperator, s.updateCustomer)
	s.route(api, del, "/customers/{id}", RoleOperator, s.deleteCustomer)

	s.route(api, get, "/subscriptions", RoleViewer, s.listSubscriptions)
	s.route(api, post, "/subscriptions", RoleOperator, s.createSubscription)
	s.route(api, get, "/subscriptions/{id}", RoleViewer, s.getSubscription)
	s.route(api, put, "/subscriptions/{id}", RoleOperator, s.updateSubscription)
	s.route(api, del, "/subscriptions/{id}", RoleOperator, s.deleteSubscription)

	s.route(api, get, "/voucher-batches", RoleViewer, s.listVoucherBatches)
	s.route(api, post, "/voucher-batches", RoleOperator, s.createVoucherBatch)
	s.route(api, get, "/voucher-batches/{id}", RoleViewer, s.getVoucherBatch)
	s.route(api, del, "/voucher-batches/{id}", RoleOperator, s.deleteVoucherBatch)
	s.route(api, get, "/voucher-batches/{id}/vouchers", RoleOperator, s.listBatchVouchers)

	s.route(api, get, "/templates", RoleViewer, s.listTemplates)
	s.route(api, post, "/templates", RoleOperator, s.createTemplate)
	s.route(api, get, "/templates/{id}", RoleViewer, s.getTemplate)
	s.route(api, put, "/templates/{id}", RoleOperator, s.updateTemplate)
	s.route(api, del, "/templates/{id}", RoleAdmin, s.deleteTemplate)
	s.route(api, post, "/templates/{id}/preview", RoleViewer, s.previewTemplate)

	s.route(api, get, "/plugin-settings/{plugin}", RoleOperator, s.getPluginSettings)
	s.route(api, put, "/plugin-settings/{plugin}", RoleAdmin, s.putPluginSettings)
}
