package web

// Background jobs: the ones that need an operator's eye, and running one again.

import (
	"context"
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

	"github.com/mikrobill/mikrobill/host/internal/billing"
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
	var v validation
	limit := 100
	if l := r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		v.check(err == nil && n >= 1 && n <= 1000, "limit", "a whole number from 1 to 1000")
		limit = n
	}
	states := r.URL.Query()["state"]
	if slices.Contains(states, "all") {
		states = slices.Sorted(maps.Keys(jobStates))
	}
	for _, st := range states {
		_, ok := jobStates[st]
		v.check(ok, "state", "one of all, available, cancelled, completed, discarded, pending, retryable, running, scheduled")
	}
	if err := v.err(); err != nil {
		return err
	}
	jobs, err := s.jobs(r.Context(), states, r.URL.Query()["kind"], limit)
	if err != nil {
		return err
	}
	items := make([]jobBody, 0, len(jobs))
	for _, j := range jobs {
		items = append(items, toJobBody(j))
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
	return nil
}

// jobs lists up to limit jobs in states (billing.FailedJobStates when
// none; each a key of jobStates) of kinds (any when none), newest first:
// the API's job list and the UI's jobs page.
func (s *Server) jobs(ctx context.Context, states, kinds []string, limit int) ([]*rivertype.JobRow, error) {
	if len(states) == 0 {
		states = billing.FailedJobStates
	}
	want := make([]rivertype.JobState, 0, len(states))
	for _, st := range states {
		want = append(want, jobStates[st])
	}
	params := river.NewJobListParams().OrderBy(river.JobListOrderByID, river.SortOrderDesc).States(want...).First(limit)
	if len(kinds) > 0 {
		params = params.Kinds(kinds...)
	}
	res, err := s.deps.Billing.Queue().List(ctx, params)
	if err != nil {
		return nil, err
	}
	return res.Jobs, nil
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
	j, err := s.retry(r.Context(), id, actor(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toJobBody(j))
	return nil
}

// retry makes job id run again now, for by (the API's retry and the UI's
// jobs page); an unknown job is a 404.
func (s *Server) retry(ctx context.Context, id int64, by string) (*rivertype.JobRow, error) {
	j, err := s.deps.Billing.Queue().Retry(ctx, id)
	if errors.Is(err, river.ErrNotFound) {
		return nil, &apiError{http.StatusNotFound, "not_found", fmt.Sprintf("no job %d", id), nil}
	}
	if err != nil {
		return nil, err
	}
	s.log.Info("job retried", "job", id, "kind", j.Kind, "by", by)
	return j, nil
}
