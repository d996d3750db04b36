package server

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"net/http"

	"github.com/cutover/cutover/couponapi/api"
	"github.com/cutover/cutover/couponapi/bugs"
	"github.com/cutover/cutover/couponapi/bulk"
	"github.com/cutover/cutover/couponapi/voucher"
)

const (
	// importBatch is how many vouchers one import transaction inserts:
	// memory holds one batch, whatever the size of the upload.
	importBatch = 1000
	// exportPage is how many vouchers one export query reads.
	exportPage = 1000
	// maxImportErrors bounds the error lines of an import answer.
	maxImportErrors = 100
)

// importVouchers streams a JSON array or a CSV file of vouchers into the
// store, one batch per transaction, and answers how many were created and
// how many failed (bad item, or code already in use).
func (s *Server) importVouchers(w http.ResponseWriter, r *http.Request) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var read func(io.Reader, bulk.ItemFunc) error
	switch mt {
	case api.ContentTypeJSON:
		read = bulk.ReadJSON
	case api.ContentTypeCSV:
		read = bulk.ReadCSV
	default:
		writeError(w, r, http.StatusUnsupportedMediaType, api.KeyUnsupportedMediaType, "unsupported media type",
			"send "+api.ContentTypeJSON+" (an array of vouchers) or "+api.ContentTypeCSV)
		return
	}
	var body io.Reader = r.Body
	if s.d.Bugs.Has(bugs.ImportBuffer) {
		// Planted bug: read the whole upload first, and keep it.
		b, err := io.ReadAll(r.Body)
		if err != nil {
			writeError(w, r, http.StatusBadRequest, api.KeyInvalidPayload, "invalid payload", err.Error())
			return
		}
		s.mu.Lock()
		s.retained = append(s.retained, b)
		s.mu.Unlock()
		body = bytes.NewReader(b)
	}

	var res api.ImportResult
	batch := make([]voucher.Voucher, 0, importBatch)
	failf := func(format string, args ...any) {
		res.Failed++
		if len(res.Errors) < maxImportErrors {
			res.Errors = append(res.Errors, fmt.Sprintf(format, args...))
		}
	}
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		ctx, cancel := s.dbContext(r, true)
		defer cancel()
		created, err := s.d.Store.ImportVouchers(ctx, batch)
		if err != nil {
			return err
		}
		res.Created += int64(len(created))
		if len(created) < len(batch) {
			made := make(map[string]bool, len(created))
			for _, c := range created {
				made[c] = true
			}
			for _, v := range batch {
				if !made[v.Code] {
					failf("code %s: a voucher with this code already exists", v.Code)
				} else {
					delete(made, v.Code) // a code twice in one upload: the second fails
				}
			}
		}
		batch = batch[:0]
		return nil
	}
	var storeErr error
	err := read(body, func(pos int, in api.Voucher, err error) error {
		if err != nil {
			failf("%v", err)
			return nil
		}
		v, err := voucher.FromAPI(in)
		if err != nil {
			failf("item %d (code %q): %v", pos, in.Code, err)
			return nil
		}
		batch = append(batch, v)
		if len(batch) == importBatch {
			if err := flush(); err != nil {
				storeErr = err
				return err
			}
		}
		return nil
	})
	if err == nil {
		if err = flush(); err != nil {
			storeErr = err
		}
	}
	info(r).fields = append(info(r).fields, "created", res.Created, "failed", res.Failed)
	if storeErr != nil {
		s.fail(w, r, fmt.Sprintf("import (created %d before the failure)", res.Created), storeErr)
		return
	}
	if err != nil {
		writeError(w, r, http.StatusBadRequest, api.KeyInvalidPayload, "invalid payload",
			fmt.Sprintf("%v (created %d, failed %d before this point)", err, res.Created, res.Failed))
		return
	}
	if res.Created > 0 {
		s.d.Committed()
	}
	writeJSON(w, http.StatusOK, res)
}

// exportVouchers streams every voucher as CSV, one page per query. A
// failure after the first byte aborts the response, so a client never
// takes a truncated export for a complete one.
func (s *Server) exportVouchers(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", api.ContentTypeCSV+"; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="vouchers.csv"`)
	rc := http.NewResponseController(w)
	cw, err := bulk.NewCSVWriter(w)
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	after, n := "", 0
	for {
		ctx, cancel := s.dbContext(r, false)
		page, err := s.d.Store.ExportPage(ctx, after, exportPage)
		cancel()
		if err != nil {
			info(r).err = fmt.Errorf("export after %d vouchers: %w", n, err)
			if n == 0 {
				w.Header().Del("Content-Disposition")
				s.fail(w, r, "export", err)
				return
			}
			panic(http.ErrAbortHandler)
		}
		for _, v := range page {
			if err := cw.Write(v); err != nil {
				panic(http.ErrAbortHandler)
			}
		}
		n += len(page)
		if err := cw.Flush(); err != nil {
			panic(http.ErrAbortHandler)
		}
		_ = rc.Flush()
		if len(page) < exportPage {
			break
		}
		after = page[len(page)-1].Code
	}
	info(r).fields = append(info(r).fields, "exported", n)
}
