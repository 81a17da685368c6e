package web

// The dashboard's numbers: revenue and payments per gateway over the last
// 30 days, subscribers, failed jobs (billing.Service.Dashboard, which the
// UI's dashboard calls too).

import "net/http"

func (s *Server) dashboard(w http.ResponseWriter, r *http.Request) error {
	d, err := s.deps.Billing.Dashboard(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}
