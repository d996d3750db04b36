package server

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cutover/cutover/couponapi/api"
	"github.com/cutover/cutover/couponapi/bugs"
	"github.com/cutover/cutover/couponapi/store"
	"github.com/cutover/cutover/couponapi/voucher"
)

// staleTTL is the validate cache lifetime under the planted bug
// validate_cache_stale.
const staleTTL = time.Hour

// refusal turns a voucher refusal into its answer: 404 for an unknown
// code, 400 otherwise.
func refusal(r *http.Request, err error) (int, *api.Error) {
	key := voucher.Key(err)
	status := http.StatusBadRequest
	if key == api.KeyNotFound {
		status = http.StatusNotFound
	}
	return status, apiError(r, status, key, err.Error(), "")
}

func (s *Server) createVoucher(w http.ResponseWriter, r *http.Request) {
	var in api.Voucher
	if !decode(w, r, &in, false) {
		return
	}
	v, err := voucher.FromAPI(in)
	if err != nil {
		writeError(w, r, http.StatusBadRequest, api.KeyInvalidVoucher, "invalid voucher", err.Error())
		return
	}
	s.idempotent(w, r, in, func(ctx context.Context, tx *store.Tx) (int, any, error) {
		created, err := s.d.Store.CreateVoucher(ctx, tx, v)
		if errors.Is(err, store.ErrDuplicate) {
			return http.StatusConflict, apiError(r, http.StatusConflict, api.KeyDuplicate, "duplicated resource",
				"a voucher with code "+v.Code+" already exists"), nil
		}
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, created.API(), nil
	}, nil)
}

func (s *Server) getVoucher(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := s.dbContext(r, false)
	defer cancel()
	v, err := s.d.Store.Voucher(ctx, r.PathValue("code"))
	if errors.Is(err, voucher.ErrNotFound) {
		writeError(w, r, http.StatusNotFound, api.KeyNotFound, "resource not found", "voucher "+r.PathValue("code"))
		return
	}
	if err != nil {
		s.fail(w, r, "read voucher", err)
		return
	}
	writeJSON(w, http.StatusOK, v.API())
}

// validate answers whether the voucher would redeem now, from the cached
// voucher when there is one. The cache entry is dropped after every
// committed redemption or rollback of that voucher and lives at most
// ValidateCacheTTL, so validate lags a redemption by at most that TTL.
func (s *Server) validate(w http.ResponseWriter, r *http.Request) {
	var in api.ValidateRequest
	if !decode(w, r, &in, false) {
		return
	}
	code := r.PathValue("code")
	v, hit := s.d.Cache.Voucher(r.Context(), code)
	if !hit {
		ctx, cancel := s.dbContext(r, false)
		defer cancel()
		var err error
		v, err = s.d.Store.Voucher(ctx, code)
		if errors.Is(err, voucher.ErrNotFound) {
			writeError(w, r, http.StatusNotFound, api.KeyNotFound, "resource not found", "voucher "+code)
			return
		}
		if err != nil {
			s.fail(w, r, "read voucher", err)
			return
		}
		ttl := s.d.ValidateCacheTTL
		if s.d.Bugs.Has(bugs.ValidateCacheStale) {
			ttl = staleTTL
		}
		s.d.Cache.PutVoucher(r.Context(), v, ttl)
	}
	info(r).fields = append(info(r).fields, "cache_hit", hit)
	var credits int64
	if in.Gift != nil {
		credits = in.Gift.Credits
	}
	out := api.ValidateResponse{Code: v.Code, Valid: true, Discount: v.APIDiscount()}
	if v.Type == api.GiftVoucher {
		out.Gift = &api.Gift{Amount: v.GiftAmount, Balance: v.GiftBalance}
	}
	amount, err := v.Check(in.Order.Amount, credits, store.Now())
	if err != nil {
		key := voucher.Key(err)
		if key == "" {
			s.fail(w, r, "validate", err)
			return
		}
		out.Valid, out.Reason, out.Key = false, err.Error(), key
	} else {
		o := api.Order{ID: in.Order.ID, Amount: in.Order.Amount, DiscountAmount: amount, TotalAmount: max(in.Order.Amount-amount, 0)}
		out.Order = &o
	}
	writeJSON(w, http.StatusOK, out)
}

// waitForVoucher takes one of the voucher's write slots (see keyLimit),
// waiting at most the database timeout; on failure it has answered 503.
func (s *Server) waitForVoucher(w http.ResponseWriter, r *http.Request, code string) (release func(), ok bool) {
	ctx, cancel := s.dbContext(r, false)
	defer cancel()
	release, err := s.hot.acquire(ctx, code)
	if err != nil {
		s.fail(w, r, "wait for voucher "+code, err)
		return nil, false
	}
	return release, true
}

func (s *Server) redeem(w http.ResponseWriter, r *http.Request) {
	var in api.RedeemRequest
	if !decode(w, r, &in, false) {
		return
	}
	code := r.PathValue("code")
	var credits int64
	if in.Gift != nil {
		credits = in.Gift.Credits
	}
	ri := info(r)
	// The planted check-then-act race keeps its full concurrency.
	if !s.d.Bugs.Has(bugs.CheckThenAct) {
		release, ok := s.waitForVoucher(w, r, code)
		if !ok {
			return
		}
		defer release()
	}
	s.idempotent(w, r, in, func(ctx context.Context, tx *store.Tx) (int, any, error) {
		red, _, err := s.d.Store.Redeem(ctx, tx, store.RedeemInput{
			Code:           code,
			CustomerID:     in.Customer.SourceID,
			OrderID:        in.Order.ID,
			OrderAmount:    in.Order.Amount,
			Credits:        credits,
			AppID:          ri.appID,
			IdempotencyKey: r.Header.Get(api.HeaderIdempotencyKey),
		})
		if voucher.Key(err) != "" {
			status, e := refusal(r, err)
			return status, e, nil
		}
		if err != nil {
			return 0, nil, err
		}
		ri.fields = append(ri.fields, "redemption", red.ID)
		return http.StatusOK, red, nil
	}, func() string { return code })
}

func (s *Server) rollback(w http.ResponseWriter, r *http.Request) {
	var in api.RollbackRequest
	if !decode(w, r, &in, true) {
		return
	}
	if in.Reason == "" {
		in.Reason = r.URL.Query().Get("reason")
	}
	id := r.PathValue("id")
	var code string
	s.idempotent(w, r, in, func(ctx context.Context, tx *store.Tx) (int, any, error) {
		rr, _, err := s.d.Store.Rollback(ctx, tx, id, in.Reason, time.Time{})
		switch {
		case errors.Is(err, store.ErrRedemptionNotFound):
			return http.StatusNotFound, apiError(r, http.StatusNotFound, api.KeyNotFound, "resource not found", "redemption "+id), nil
		case errors.Is(err, store.ErrAlreadyRolledBack):
			return http.StatusBadRequest, apiError(r, http.StatusBadRequest, api.KeyAlreadyRolledBack,
				"already rolled back", "redemption "+id+" was already rolled back"), nil
		case err != nil:
			return 0, nil, err
		}
		code = rr.Voucher
		return http.StatusOK, rr, nil
	}, func() string { return code })
}

func (s *Server) getRedemption(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := s.dbContext(r, false)
	defer cancel()
	red, err := s.d.Store.Redemption(ctx, r.PathValue("id"))
	if errors.Is(err, store.ErrRedemptionNotFound) {
		writeError(w, r, http.StatusNotFound, api.KeyNotFound, "resource not found", "redemption "+r.PathValue("id"))
		return
	}
	if err != nil {
		s.fail(w, r, "read redemption", err)
		return
	}
	writeJSON(w, http.StatusOK, red)
}

func (s *Server) listRedemptions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	rq := store.RedemptionQuery{
		Voucher:       q.Get("voucher"),
		Customer:      q.Get("customer"),
		Result:        q.Get("result"),
		StartingAfter: q.Get("starting_after"),
		Limit:         10,
		Page:          1,
	}
	for _, p := range []struct {
		name     string
		dst      *int
		min, max int
	}{{"limit", &rq.Limit, 1, 100}, {"page", &rq.Page, 1, 1 << 30}} {
		s := q.Get(p.name)
		if s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < p.min || n > p.max {
			writeError(w, r, http.StatusBadRequest, api.KeyInvalidPayload, "invalid query parameter",
				p.name+" must be an integer in ["+strconv.Itoa(p.min)+", "+strconv.Itoa(p.max)+"]")
			return
		}
		*p.dst = n
	}
	switch strings.TrimSpace(q.Get("order")) {
	case "", "-created_at":
	case "created_at":
		rq.Ascending = true
	default:
		writeError(w, r, http.StatusBadRequest, api.KeyInvalidPayload, "invalid query parameter",
			"order must be created_at or -created_at")
		return
	}
	ctx, cancel := s.dbContext(r, false)
	defer cancel()
	list, err := s.d.Store.Redemptions(ctx, rq)
	if errors.Is(err, store.ErrRedemptionNotFound) {
		writeError(w, r, http.StatusBadRequest, api.KeyInvalidPayload, "invalid query parameter",
			"starting_after names no redemption")
		return
	}
	if err != nil {
		s.fail(w, r, "list redemptions", err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}
