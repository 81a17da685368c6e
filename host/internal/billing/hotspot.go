package billing

// Hotspot vouchers: a voucher batch of kind store.BatchHotspot makes each
// code a hotspot login on its location's router, for walk-in customers who
// have no customer record. Three jobs carry them:
//
//   - provision_hotspot_batch (queued with the batch, in its transaction)
//     ensures the plan's profile and creates the batch's pending logins on
//     the router a chunk at a time (name and password: the code; the
//     plugin marks them as mikrobill's). A router that fails is recorded on
//     the batch and River retries; what is done stays done.
//   - voucher_login_scan (periodic, on the leader) asks each location's
//     router who is online; a ready login seen there has had its first
//     login: now minus the session's uptime. Its validity starts then.
//   - expire_voucher_login (queued by the expiry scan) isolates the login
//     (the plan's isolation profile) or removes it, when its validity ends.
//
// routers sync knows these logins (SyncRouters), so it neither reports
// them as strays nor removes them.

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/sdk/router"
)

// hotspotChunk is how many logins one round of a batch's provisioning
// creates before it records them as on the router.
const hotspotChunk = 50

// ProvisionHotspotBatchTx queues the job that puts a hotspot batch's
// logins on its router, in the transaction that made the batch.
func (s *Service) ProvisionHotspotBatchTx(ctx context.Context, tx *store.Tx, batchID int64) error {
	if s.queue == nil {
		return errors.New("the job queue is not set up; the hotspot logins cannot be created")
	}
	_, err := s.queue.InsertTx(ctx, tx, ProvisionHotspotBatchArgs{BatchID: batchID}, nil)
	return err
}

// ProvisionHotspotBatchArgs puts a hotspot batch's pending logins on its
// location's router.
type ProvisionHotspotBatchArgs struct {
	BatchID int64 `json:"batch_id" river:"unique"`
}

// Kind implements river.JobArgs.
func (ProvisionHotspotBatchArgs) Kind() string { return "provision_hotspot_batch" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (ProvisionHotspotBatchArgs) InsertOpts() river.InsertOpts { return unique() }

type provisionHotspotBatchWorker struct {
	river.WorkerDefaults[ProvisionHotspotBatchArgs]
	s *Service
}

// Work ensures the plan's profile, then creates the pending logins a chunk
// at a time, recording each chunk as ready. UpsertUser is idempotent, so
// a retry after a failure in the middle of a chunk changes nothing more.
func (w *provisionHotspotBatchWorker) Work(ctx context.Context, job *river.Job[ProvisionHotspotBatchArgs]) error {
	s := w.s
	q := s.st.Q()
	b, err := q.GetVoucherBatch(ctx, job.Args.BatchID)
	if errors.Is(err, store.ErrNotFound) {
		return nil // deleted before it reached the router
	}
	if err != nil {
		return err
	}
	err = s.provisionHotspotBatch(ctx, b)
	if err != nil {
		s.log.Warn("hotspot logins not created yet", "batch", b.ID, "error", err)
		if rerr := q.SetVoucherBatchProvisionError(context.WithoutCancel(ctx), b.ID, err.Error()); rerr != nil {
			s.log.Error("provisioning error not recorded", "batch", b.ID, "error", rerr)
		}
		switch {
		case errors.Is(err, router.ErrNotManaged), errors.Is(err, router.ErrInvalidRateLimit), errors.Is(err, ErrNoPlugin):
			return river.JobCancel(fmt.Errorf("%w; fix it, then retry this job", err))
		}
	}
	return err
}

func (s *Service) provisionHotspotBatch(ctx context.Context, b *store.VoucherBatch) error {
	q := s.st.Q()
	plan, err := q.GetPlan(ctx, b.PlanID)
	if err != nil {
		return err
	}
	loc, err := q.GetLocation(ctx, b.LocationID)
	if err != nil {
		return err
	}
	rt, err := s.plugins.Router(loc.Plugin)
	if err != nil {
		return err
	}
	profile := profileName(*plan)
	if _, err := rt.EnsureProfile(ctx, &router.EnsureProfileRequest{Location: loc.Name, Profile: router.Profile{
		Kind: router.KindHotspot, Name: profile, RateLimit: plan.RateLimit, SharedUsers: plan.SharedUsers,
		Comment: "plan " + plan.Name,
	}}); err != nil {
		return fmt.Errorf("ensure profile %s on %s: %w", profile, loc.Name, err)
	}
	made := 0
	for {
		pending, err := q.ListVouchersAfter(ctx, b.ID, store.VoucherFilter{LoginState: store.LoginPending}, 0, hotspotChunk)
		if err != nil {
			return err
		}
		if len(pending) == 0 {
			break
		}
		ids := make([]int64, 0, len(pending))
		for _, v := range pending {
			if _, err := rt.UpsertUser(ctx, &router.UpsertUserRequest{Location: loc.Name, User: hotspotUser(v.Code, profile, *plan, b.ID)}); err != nil {
				return fmt.Errorf("create hotspot login %s on %s: %w", v.Code[:min(4, len(v.Code))]+"…", loc.Name, err)
			}
			ids = append(ids, v.ID)
		}
		n, err := q.MarkVoucherLoginsReady(ctx, b.ID, ids)
		if err != nil {
			return err
		}
		made += n
	}
	s.log.Info("hotspot logins created", "batch", b.ID, "location", loc.Name, "profile", profile, "count", made)
	return nil
}

// hotspotUser is a voucher's login: the code is its name and its password.
func hotspotUser(code, profile string, plan store.Plan, batchID int64) router.User {
	return router.User{Kind: router.KindHotspot, Name: code, Password: code, Profile: profile,
		LimitUptime: plan.TimeLimit, LimitBytesTotal: uint64(max(plan.DataLimitBytes, 0)),
		Comment: fmt.Sprintf("voucher batch %d", batchID)}
}

// VoucherLoginScanArgs looks for the first logins of hotspot vouchers
// (periodic).
type VoucherLoginScanArgs struct{}

// Kind implements river.JobArgs.
func (VoucherLoginScanArgs) Kind() string { return "voucher_login_scan" }

type voucherLoginScanWorker struct {
	river.WorkerDefaults[VoucherLoginScanArgs]
	s *Service
}

// Work asks the router of every location with unused hotspot logins who
// is online, and records the first login of each such login found: the
// session's start (now minus its uptime), and its end of validity, the
// plan's validity later. A router that does not answer is skipped (the
// next scan asks again); the run fails only when every one failed.
func (w *voucherLoginScanWorker) Work(ctx context.Context, _ *river.Job[VoucherLoginScanArgs]) error {
	s := w.s
	locs, err := s.st.Q().ListVoucherLoginLocations(ctx, store.LoginReady)
	if err != nil {
		return err
	}
	var errs []error
	for _, id := range locs {
		if err := s.scanVoucherLogins(ctx, id); err != nil {
			s.log.Warn("hotspot first logins not checked", "location", id, "error", err)
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 && len(errs) == len(locs) {
		return errors.Join(errs...)
	}
	return nil
}

func (s *Service) scanVoucherLogins(ctx context.Context, locationID int64) error {
	q := s.st.Q()
	ready, err := q.ListVoucherLoginsAt(ctx, locationID, store.LoginReady)
	if err != nil || len(ready) == 0 {
		return err
	}
	byCode := make(map[string]store.VoucherLogin, len(ready))
	for _, l := range ready {
		byCode[l.Code] = l
	}
	loc := ready[0]
	rt, err := s.plugins.Router(loc.LocationPlugin)
	if err != nil {
		return err
	}
	res, err := rt.ListActiveSessions(ctx, &router.ListActiveSessionsRequest{Location: loc.LocationName, Kind: router.KindHotspot})
	if err != nil {
		return fmt.Errorf("list hotspot sessions on %s: %w", loc.LocationName, err)
	}
	now := s.now()
	for _, sess := range res.Sessions {
		l, ok := byCode[sess.User]
		if !ok {
			continue
		}
		delete(byCode, sess.User) // one first login, whatever the sessions
		first := now.Add(-sess.Uptime)
		expires := first.Add(l.Plan.Validity)
		err := s.st.Tx(ctx, func(tx *store.Tx) error {
			moved, err := tx.Q().RecordVoucherFirstLogin(ctx, l.ID, first, expires)
			if err != nil || !moved {
				return err
			}
			_, err = s.queue.InsertTx(ctx, tx, auditJob(AuditEvent{Actor: "system", Action: "voucher.first_login", ResourceType: "voucher",
				ResourceID: strconv.FormatInt(l.ID, 10), Metadata: map[string]string{"batch_id": strconv.FormatInt(l.BatchID, 10),
					"location": l.LocationName, "plan": l.Plan.Name, "expires_at": expires.UTC().Format(time.RFC3339)}}, now), nil)
			return err
		})
		if err != nil {
			return err
		}
		s.log.Info("hotspot voucher first login", "voucher", l.ID, "batch", l.BatchID, "location", l.LocationName, "expires", expires)
	}
	return nil
}

// queueDueVoucherLogins queues the expiry of the hotspot logins whose
// validity is over (the expiry scan's second half).
func (s *Service) queueDueVoucherLogins(ctx context.Context) error {
	due, err := s.st.Q().ListDueVoucherLogins(ctx, s.now(), scanBatch)
	if err != nil {
		return err
	}
	for _, v := range due {
		if _, err := s.queue.Insert(ctx, ExpireVoucherLoginArgs{VoucherID: v.ID}, nil); err != nil {
			return err
		}
	}
	if len(due) > 0 {
		s.log.Info("hotspot vouchers due for expiry queued", "count", len(due))
	}
	return nil
}

// ExpireVoucherLoginArgs ends a hotspot voucher's validity on the router.
type ExpireVoucherLoginArgs struct {
	VoucherID int64 `json:"voucher_id" river:"unique"`
}

// Kind implements river.JobArgs.
func (ExpireVoucherLoginArgs) Kind() string { return "expire_voucher_login" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (ExpireVoucherLoginArgs) InsertOpts() river.InsertOpts { return unique() }

type expireVoucherLoginWorker struct {
	river.WorkerDefaults[ExpireVoucherLoginArgs]
	s *Service
}

// Work moves the login to the plan's isolation profile when the plan has
// one and removes it otherwise, ending its sessions either way, then marks
// the voucher expired, as the subscriptions' expiry does. A router that is
// down fails the run and River retries.
func (w *expireVoucherLoginWorker) Work(ctx context.Context, job *river.Job[ExpireVoucherLoginArgs]) error {
	s := w.s
	l, err := s.st.Q().GetVoucherLogin(ctx, job.Args.VoucherID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if l.LoginState != store.LoginActive {
		return nil
	}
	rt, err := s.plugins.Router(l.LocationPlugin)
	if err != nil {
		return err
	}
	ref := router.UserRef{Location: l.LocationName, Kind: router.KindHotspot, Name: l.Code}
	action := "voucher.expired"
	if l.Plan.IsolationProfile != "" {
		action = "voucher.isolated"
	}
	note, err := endLogin(ctx, rt, ref, l.Plan.IsolationProfile, l.LocationPlugin)
	if err != nil {
		return fmt.Errorf("expire hotspot voucher %d: %w", l.ID, err)
	}
	meta := map[string]string{"batch_id": strconv.FormatInt(l.BatchID, 10), "location": l.LocationName, "plan": l.Plan.Name}
	if note != "" {
		meta["router"] = note
	}
	return s.st.Tx(ctx, func(tx *store.Tx) error {
		moved, err := tx.Q().ExpireVoucherLogin(ctx, l.ID)
		if err != nil || !moved {
			return err
		}
		_, err = s.queue.InsertTx(ctx, tx, auditJob(AuditEvent{Actor: "system", Action: action, ResourceType: "voucher",
			ResourceID: strconv.FormatInt(l.ID, 10), Metadata: meta}, s.now()), nil)
		return err
	})
}

// HotspotLoginURL is the address that logs a phone in to the hotspot with
// a voucher's code: the login page (the setting hotspot.login_url, in
// which "{location}" stands for the location's name) with the code as the
// username and the password. "" when no login page is set.
func HotspotLoginURL(loginPage, location, code string) string {
	if loginPage == "" {
		return ""
	}
	page := strings.ReplaceAll(loginPage, "{location}", location)
	return page + "?" + url.Values{"username": {code}, "password": {code}}.Encode()
}
