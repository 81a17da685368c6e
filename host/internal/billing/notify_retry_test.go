package billing_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/riverqueue/river/rivertype"

	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// TestMessageWaitsOutADatabaseFailure: a message whose template cannot be
// read because the database fails (not because there is no such
// template) is retried and sent once the database answers, never
// cancelled. make chaos found invoice messages cancelled, so never sent,
// when PostgreSQL restarted under them (docs/chaos.md).
func TestMessageWaitsOutADatabaseFailure(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := setup(t, st)
		ctx := context.Background()
		db, done, err := st.SQLDB()
		if err != nil {
			t.Fatal(err)
		}
		defer done()
		// Every read of a template now fails as a database failure does.
		if _, err := db.ExecContext(ctx, `ALTER TABLE message_templates RENAME TO message_templates_away`); err != nil {
			t.Fatal(err)
		}
		res, err := e.q.Insert(ctx, billing.NotifyArgs{Template: "invoice_created", CustomerID: e.cust.ID, Key: "db-failure"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		var job *rivertype.JobRow
		sdktest.WaitFor(t, 20*time.Second, "the message's failed runs", func() bool {
			job, err = e.q.Get(ctx, res.Job.ID)
			return err == nil && (job.State == rivertype.JobStateCancelled || len(job.Errors) >= 2)
		})
		if job.State == rivertype.JobStateCancelled {
			t.Fatalf("the message was cancelled when the database failed: %v", job.Errors)
		}
		if _, err := db.ExecContext(ctx, `ALTER TABLE message_templates_away RENAME TO message_templates`); err != nil {
			t.Fatal(err)
		}
		sdktest.WaitFor(t, 20*time.Second, "the message, sent once the database answers", func() bool {
			return slices.ContainsFunc(e.nt.messages(), func(m sentMessage) bool { return m.key == "db-failure" })
		})
	})
}

// TestMessageWithoutTemplateIsCancelled: a message whose template is not
// there is cancelled at once, with what to do, rather than retried.
func TestMessageWithoutTemplateIsCancelled(t *testing.T) {
	e := setup(t, storetest.SQLite(t))
	ctx := context.Background()
	res, err := e.q.Insert(ctx, billing.NotifyArgs{Template: "no_such_template", CustomerID: e.cust.ID, Key: "no-template"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var job *rivertype.JobRow
	sdktest.WaitFor(t, 20*time.Second, "the message's cancellation", func() bool {
		job, err = e.q.Get(ctx, res.Job.ID)
		return err == nil && job.State == rivertype.JobStateCancelled
	})
	if len(job.Errors) != 1 || job.Errors[0].Error != `JobCancelError: message template "no_such_template": not found; create it under /api/v1/templates` {
		t.Errorf("cancelled with %+v", job.Errors)
	}
}
