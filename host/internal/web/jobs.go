package web

// Background jobs: the ones that need an operator's eye, and running one again.

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// jobBody is a job as the API shows it.
type jobBody struct {
	ID          int64           `json:"id"`
	Kind        string          `json:"kind"`
	State       string          `json:"state"`
	Attempt     int             `json:"attempt"`
	MaxAttempts int             `json:"max_attempts"`
	Args        json.RawMessage `json:"args"`
	LastError   string          `json:"last_error,omitempty"`
	CreatedAt   time.Time       `json:"created_at"`
	ScheduledAt time.Time       `json:"scheduled_at"`
	FinalizedAt *time.Time      `json:"finalized_at,omitempty"`
}

func toJobBody(j *rivertype.JobRow) jobBody {
	b := jobBody{ID: j.ID, Kind: j.Kind, State: string(j.State), Attempt: j.Attempt, MaxAttempts: j.MaxAttempts,
		Args: j.EncodedArgs, CreatedAt: j.CreatedAt, ScheduledAt: j.ScheduledAt, FinalizedAt: j.FinalizedAt}
	if n := len(j.Errors); n > 0 {
		b.LastError = j.Errors[n-1].Error
	}
	return b
}

var jobStates = map[string]rivertype.JobState{
	"available": rivertype.JobStateAvailable, "cancelled": rivertype.JobStateCancelled, "completed": rivertype.JobStateCompleted,
	"discarded": rivertype.JobStateDiscarded, "pending": rivertype.JobStatePending, "retryable": rivertype.JobStateRetryable,
	"running": rivertype.JobStateRunning, "scheduled": rivertype.JobStateScheduled,
}

// listJobs lists jobs, by default the ones that need an operator's eye:
// discarded (out of attempts), cancelled, and retryable (failing now).
// ?state= names others (repeatable), or "all".
func (s *Server) listJobs(w http.ResponseWriter, r *http.Request) error {
	params := river.NewJobListParams().OrderBy(river.JobListOrderByID, river.SortOrderDesc)
	var v validation
	limit := 100
	if l := r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		v.check(err == nil && n >= 1 && n <= 1000, "limit", "a whole number from 1 to 1000")
		limit = n
	}
	states := r.URL.Query()["state"]
	if len(states) == 0 {
		states = []string{"discarded", "cancelled", "retryable"}
	}
	if slices.Contains(states, "all") {
		states = slices.Sorted(maps.Keys(jobStates))
	}
	var want []rivertype.JobState
	for _, st := range states {
		js, ok := jobStates[st]
		v.check(ok, "state", "one of all, available, cancelled, completed, discarded, pending, retryable, running, scheduled")
		want = append(want, js)
	}
	if err := v.err(); err != nil {
		return err
	}
	params = params.States(want...).First(limit)
	if kinds := r.URL.Query()["kind"]; len(kinds) > 0 {
		params = params.Kinds(kinds...)
	}
	res, err := s.deps.Billing.Queue().List(r.Context(), params)
	if err != nil {
		return err
	}
	items := make([]jobBody, 0, len(res.Jobs))
	for _, j := range res.Jobs {
		items = append(items, toJobBody(j))
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
	return nil
}

func (s *Server) getJob(w http.ResponseWriter, r *http.Request) error {
	id, err := idVar(r, "id")
	if err != nil {
		return err
	}
	j, err := s.deps.Billing.Queue().Get(r.Context(), id)
	if errors.Is(err, river.ErrNotFound) {
		return &apiError{http.StatusNotFound, "not_found", fmt.Sprintf("no job %d", id), nil}
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toJobBody(j))
	return nil
}

// retryJob makes a failed, cancelled or waiting job run again now.
func (s *Server) retryJob(w http.ResponseWriter, r *http.Request) error {
	id, err := idVar(r, "id")
	if err != nil {
		return err
	}
	j, err := s.deps.Billing.Queue().Retry(r.Context(), id)
	if errors.Is(err, river.ErrNotFound) {
		return &apiError{http.StatusNotFound, "not_found", fmt.Sprintf("no job %d", id), nil}
	}
	if err != nil {
		return err
	}
	s.log.Info("job retried", "job", id, "kind", j.Kind, "by", actor(r))
	writeJSON(w, http.StatusOK, toJobBody(j))
	return nil
}
