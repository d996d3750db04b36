package trace

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"text/tabwriter"

	"github.com/cutover/cutover/harness/history"
	"github.com/cutover/cutover/harness/stats"
)

// Stats summarizes a trace.
type Stats struct {
	Requests int64 `json:"requests"`
	// Duration is the offset of the last request, in seconds.
	Duration float64 `json:"duration_s"`
	Clients  int     `json:"clients"`
	// Rate is the distribution of requests per second over the trace's
	// one-second buckets.
	Rate RateStats `json:"rate"`
	Ops  []Count   `json:"ops"`
	// TopVouchers are the most requested voucher codes.
	TopVouchers []Count `json:"top_vouchers"`
	Vouchers    int     `json:"vouchers"`
	// Retries are redeems that reuse an earlier redeem's idempotency key.
	Retries int64 `json:"retries"`
}

// RateStats are percentiles of the per-second request count.
type RateStats struct {
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
}

// Count is a name and how often it occurs.
type Count struct {
	Name  string  `json:"name"`
	Count int64   `json:"count"`
	Share float64 `json:"share"`
}

// Summarize reads a whole trace and returns its statistics, with the top
// most requested vouchers. It streams: memory grows with the number of
// distinct vouchers, clients and idempotency keys, not with the lines.
func Summarize(r *Reader, top int) (Stats, error) {
	var (
		st       Stats
		perSec   []int64
		ops      = map[string]int64{}
		vouchers = map[string]int64{}
		clients  = map[string]struct{}{}
		keys     = map[string]struct{}{}
	)
	for {
		req, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Stats{}, err
		}
		st.Requests++
		st.Duration = req.At
		sec := int(req.At)
		for len(perSec) <= sec {
			perSec = append(perSec, 0)
		}
		perSec[sec]++
		ops[req.Op]++
		clients[req.Client] = struct{}{}
		if req.Voucher != "" {
			vouchers[req.Voucher]++
		}
		if req.Op == history.Redeem && req.Key != "" {
			if _, seen := keys[req.Key]; seen {
				st.Retries++
			}
			keys[req.Key] = struct{}{}
		}
	}
	st.Clients = len(clients)
	st.Vouchers = len(vouchers)
	st.Rate = rateStats(perSec)
	st.Ops = counts(ops, st.Requests, 0)
	st.TopVouchers = counts(vouchers, st.Requests, top)
	return st, nil
}

func rateStats(perSec []int64) RateStats {
	if len(perSec) == 0 {
		return RateStats{}
	}
	sorted := slices.Clone(perSec)
	slices.Sort(sorted)
	var sum int64
	for _, n := range sorted {
		sum += n
	}
	q := func(p float64) float64 { return float64(stats.Quantile(sorted, p)) }
	return RateStats{
		Mean: float64(sum) / float64(len(sorted)),
		P50:  q(0.50), P95: q(0.95), P99: q(0.99),
		Max: float64(sorted[len(sorted)-1]),
	}
}

// counts sorts a histogram by count (then name) and keeps the first top (all when 0).
func counts(m map[string]int64, total int64, top int) []Count {
	out := make([]Count, 0, len(m))
	for k, n := range m {
		out = append(out, Count{Name: k, Count: n, Share: float64(n) / float64(max(total, 1))})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Name < out[j].Name
	})
	if top > 0 && len(out) > top {
		out = out[:top]
	}
	return out
}

// WriteText prints the statistics for a person.
func (s Stats) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "requests\t%d\n", s.Requests)
	fmt.Fprintf(tw, "duration\t%.1f s\n", s.Duration)
	fmt.Fprintf(tw, "clients\t%d\n", s.Clients)
	fmt.Fprintf(tw, "vouchers\t%d\n", s.Vouchers)
	fmt.Fprintf(tw, "redeem retries\t%d\n", s.Retries)
	fmt.Fprintf(tw, "rate (req/s)\tmean %.1f  p50 %.0f  p95 %.0f  p99 %.0f  max %.0f\n",
		s.Rate.Mean, s.Rate.P50, s.Rate.P95, s.Rate.P99, s.Rate.Max)
	fmt.Fprintf(tw, "\nop\tcount\tshare\n")
	for _, c := range s.Ops {
		fmt.Fprintf(tw, "%s\t%d\t%.1f %%\n", c.Name, c.Count, 100*c.Share)
	}
	fmt.Fprintf(tw, "\ntop voucher\tcount\tshare\n")
	for _, c := range s.TopVouchers {
		fmt.Fprintf(tw, "%s\t%d\t%.1f %%\n", c.Name, c.Count, 100*c.Share)
	}
	return tw.Flush()
}
