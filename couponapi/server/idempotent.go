package server

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/cutover/cutover/couponapi/api"
	"github.com/cutover/cutover/couponapi/bugs"
	"github.com/cutover/cutover/couponapi/cache"
	"github.com/cutover/cutover/couponapi/store"
)

// maxIdempotencyKeyLen bounds the Idempotency-Key header.
const maxIdempotencyKeyLen = 255

// txFunc does a call's work inside the store transaction. It returns the
// status and the value to answer; a refusal is a 4xx status with an
// *api.Error value and is stored like a success. An error aborts the
// transaction.
type txFunc func(ctx context.Context, tx *store.Tx) (int, any, error)

// idempotent runs fn in one store transaction, honouring the request's
// Idempotency-Key: the first request with a key does the work and its
// answer is stored in Postgres in the same transaction; every later request
// with that key and the same request (method, path, canonical body) gets
// that answer back, byte for byte, with Idempotent-Replayed: true, and
// changes nothing. The same key with another request is 422. Redis holds a
// copy of committed answers as a fast path only: Postgres decides.
// After a commit (not on replays) the answer goes to Redis and the cached
// state of the voucher that changed() names, if any, is dropped — one round
// trip — and the outbox relay is woken.
func (s *Server) idempotent(w http.ResponseWriter, r *http.Request, canonical any, fn txFunc, changed func() string) {
	ri := info(r)
	key := r.Header.Get(api.HeaderIdempotencyKey)
	if len(key) > maxIdempotencyKeyLen {
		writeError(w, r, http.StatusBadRequest, api.KeyInvalidPayload, "invalid Idempotency-Key",
			"the key is longer than 255 characters")
		return
	}
	if s.d.Bugs.Has(bugs.IdempotencyIgnored) {
		key = ""
	}
	hash := requestHash(r, canonical)
	if key != "" {
		if a, ok := s.d.Cache.Answer(r.Context(), ri.appID, key); ok && a.Status != 0 {
			if string(a.Hash) != string(hash) {
				s.mismatch(w, r)
				return
			}
			ri.replayed = true
			ri.fields = append(ri.fields, "idempotency", "redis")
			w.Header().Set(api.HeaderIdempotentReplayed, "true")
			writeRaw(w, a.Status, a.Body)
			return
		}
	}
	idem := store.IdemKey{AppID: ri.appID, Key: key, Hash: hash}
	if s.d.Bugs.Has(bugs.IdempotencyRedisOnly) {
		idem.Key = "" // planted bug: Postgres keeps no record; only the Redis copy below
	}
	if rr, ok := canonical.(api.RedeemRequest); ok && key != "" && s.d.Bugs.Has(bugs.IdempotencyByCustomer) {
		// Planted bug: "one checkout per customer" — the record is the
		// customer's, whatever the key and the request.
		idem.Key = "customer:" + rr.Customer.SourceID
		idem.Hash = []byte(idem.Key)
	}
	ctx, cancel := s.dbContext(r, true)
	defer cancel()
	resp, replayed, err := s.d.Store.Idempotent(ctx, idem, func(ctx context.Context, tx *store.Tx) (store.Response, error) {
		status, v, err := fn(ctx, tx)
		if err != nil {
			return store.Response{}, err
		}
		b, err := json.Marshal(v)
		if err != nil {
			return store.Response{}, err
		}
		return store.Response{Status: status, Body: b}, nil
	})
	if errors.Is(err, store.ErrIdempotencyMismatch) {
		s.mismatch(w, r)
		return
	}
	if err != nil {
		s.fail(w, r, "transaction", err)
		return
	}
	var answer *cache.Answer
	if key != "" {
		answer = &cache.Answer{Hash: hash, Status: resp.Status, Body: resp.Body}
	}
	forget := ""
	if !replayed && changed != nil && !s.d.Bugs.Has(bugs.ValidateCacheStale) {
		forget = changed()
	}
	s.d.Cache.Committed(context.WithoutCancel(r.Context()), ri.appID, key, answer, forget)
	if replayed {
		ri.replayed = true
		ri.fields = append(ri.fields, "idempotency", "postgres")
		w.Header().Set(api.HeaderIdempotentReplayed, "true")
	} else {
		s.d.Committed()
	}
	writeRaw(w, resp.Status, resp.Body)
}

func (s *Server) mismatch(w http.ResponseWriter, r *http.Request) {
	writeError(w, r, http.StatusUnprocessableEntity, api.KeyIdempotencyMismatch, "idempotency key reused",
		"this Idempotency-Key was used with a different request; use a new key for a new request")
}

// requestHash identifies a request for idempotency: method, path and the
// body re-encoded from its decoded form, so formatting does not matter.
func requestHash(r *http.Request, canonical any) []byte {
	body, _ := json.Marshal(canonical)
	h := sha256.New()
	h.Write([]byte(r.Method + " " + r.URL.EscapedPath() + "\n"))
	h.Write(body)
	return h.Sum(nil)
}
