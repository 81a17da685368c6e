package ui

// The jobs page: the jobs that need an operator's eye with their errors
// (the API's GET /api/v1/jobs), retry (POST /api/v1/jobs/{id}/retry, the
// same role), and the queue's counts by state, which the page reloads
// every few seconds (htmx).

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/gorilla/mux"
	"github.com/riverqueue/river/rivertype"
)

// Jobs are the API's job functions (host/internal/web/jobs.go), so the
// page and the API list and retry alike.
type Jobs struct {
	// List lists up to limit jobs in states (billing.FailedJobStates when
	// none), newest first.
	List func(ctx context.Context, states []string, limit int) ([]*rivertype.JobRow, error)
	// Retry makes job id run again now, recording who asked; an unknown
	// job is a not-found error.
	Retry func(ctx context.Context, id int64, by string) error
	// Counts counts the jobs by kind and state.
	Counts func(ctx context.Context) (map[[2]string]int, error)
}

// jobsListed is how many failed jobs the page lists, newest first.
const jobsListed = 100

// jobCountStates are the states the counts show, in this order.
var jobCountStates = []string{"available", "running", "scheduled", "retryable", "discarded", "cancelled", "completed"}

// jobsData is the jobs page's.
type jobsData struct {
	Jobs   []jobView
	Counts []jobCount
}

type jobView struct {
	ID                   int64
	Kind, State          string
	Attempt, MaxAttempts int
	Error                string
	At                   string // when it last failed or was made, UTC
	AtISO                string
}

type jobCount struct {
	State string
	N     int
}

// JobsPage serves GET /jobs.
func (u *UI) JobsPage(w http.ResponseWriter, r *http.Request) error {
	rows, err := u.deps.Jobs.List(r.Context(), nil, jobsListed)
	if err != nil {
		return err
	}
	counts, err := u.jobCounts(r.Context())
	if err != nil {
		return err
	}
	d := jobsData{Jobs: make([]jobView, 0, len(rows)), Counts: counts}
	for _, j := range rows {
		v := jobView{ID: j.ID, Kind: j.Kind, State: string(j.State), Attempt: j.Attempt, MaxAttempts: j.MaxAttempts}
		at := j.CreatedAt
		if n := len(j.Errors); n > 0 {
			v.Error, at = j.Errors[n-1].Error, j.Errors[n-1].At
		}
		v.At, v.AtISO = at.UTC().Format("2006-01-02 15:04"), at.UTC().Format(time.RFC3339)
		d.Jobs = append(d.Jobs, v)
	}
	v := view{Title: "jobs.title", Data: d}
	if r.URL.Query().Get("done") == "retry" {
		v.Notice, v.NoticeArg = "jobs.done_retry", r.URL.Query().Get("job")
	}
	return u.render(w, r, http.StatusOK, "jobs.html", v)
}

// JobCounts serves GET /jobs/counts: the counts alone, which the jobs page
// reloads every few seconds.
func (u *UI) JobCounts(w http.ResponseWriter, r *http.Request) error {
	counts, err := u.jobCounts(r.Context())
	if err != nil {
		return err
	}
	return u.renderPart(w, r, http.StatusOK, "jobs.html", "counts", view{Data: jobsData{Counts: counts}})
}

func (u *UI) jobCounts(ctx context.Context) ([]jobCount, error) {
	byKind, err := u.deps.Jobs.Counts(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]jobCount, len(jobCountStates))
	for i, st := range jobCountStates {
		out[i].State = st
	}
	for ks, n := range byKind {
		if i := slices.Index(jobCountStates, ks[1]); i >= 0 {
			out[i].N += n
		}
	}
	return out, nil
}

// RetryJob serves POST /jobs/{id}/retry (the API's role), then goes back
// to the jobs page.
func (u *UI) RetryJob(w http.ResponseWriter, r *http.Request) error {
	id, err := strconv.ParseInt(mux.Vars(r)["id"], 10, 64)
	if err != nil || id < 1 {
		u.Fail(w, r, http.StatusNotFound, "")
		return nil
	}
	if err := u.deps.Jobs.Retry(r.Context(), id, "user:"+userFrom(r).Username); err != nil {
		return err
	}
	redirect(w, r, "/jobs?done=retry&job="+strconv.FormatInt(id, 10))
	return nil
}
