package history

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func ptr[T any](v T) *T { return &v }

var (
	t0   = time.Date(2026, 3, 1, 12, 30, 45, 123456789, time.UTC)
	cest = time.FixedZone("CEST", 2*60*60)
)

// full is an entry with every field set.
func full() Op {
	return Op{
		Index: 41, ID: "00000000-0000-0001-0000-000000000002.r1", Type: Info, Process: "client-7", F: Redeem,
		Voucher: "r1-SAVE-10", Customer: "r1-cust-3", IdempotencyKey: "r1-k-9", Amount: 5000, Applied: 500,
		RedemptionID: "r_12", RollbackID: "rb_3", Valid: ptr(true), Platform: "heroku", Status: 503,
		HerokuCode: "H12", ErrorKey: "service_unavailable", Error: "503 Service Unavailable",
		RequestID: "00000000-0000-0001-0000-000000000002-r1", Intended: t0, Time: t0.Add(30 * time.Second),
		Latency: 30 * time.Second, Stage: "hold-1", Value: map[string]string{"target": "heroku->postgres", "a": "1"},
	}
}

func TestAppendJSONIsEncodingJSON(t *testing.T) {
	for _, tc := range []struct {
		name string
		op   func() Op
	}{
		{"zero", func() Op { return Op{} }},
		{"full", full},
		{"invoke", func() Op {
			return Op{ID: "x", Type: Invoke, Process: "c", F: Get, Intended: t0, Time: t0.Add(time.Millisecond)}
		}},
		{"valid false", func() Op { o := full(); o.Valid = ptr(false); return o }},
		{"negative numbers", func() Op {
			o := full()
			o.Index, o.Amount, o.Applied, o.Status, o.Latency = -1, -5, -9223372036854775808, -404, -time.Nanosecond
			return o
		}},
		{"html and quotes", func() Op {
			o := full()
			o.Error = `<html><body>Application error & "oops" \ back</body></html>`
			o.Value = map[string]string{"<k>": "&v", `"q"`: `\`}
			return o
		}},
		{"control bytes", func() Op {
			o := full()
			o.Error = "a\x00b\x01\x1f\b\f\n\r\t\x7f end"
			return o
		}},
		{"invalid utf-8", func() Op {
			o := full()
			o.Customer, o.Voucher = "caf\xe9", "\xff\xfe\xc3"
			return o
		}},
		{"unicode and separators", func() Op {
			o := full()
			o.Customer = "zoë 東京 🎟 \u2028line\u2029para \u2027\u202a"
			return o
		}},
		{"times", func() Op {
			o := full()
			o.Intended = time.Date(2026, 1, 2, 3, 4, 5, 0, cest)
			o.Time = time.Date(1, 1, 1, 0, 0, 0, 100, time.FixedZone("odd", -(23*3600+59*60+59)))
			return o
		}},
		{"monotonic and local", func() Op {
			o := full()
			o.Intended, o.Time = time.Now(), time.Now().Local()
			return o
		}},
		{"zero time", func() Op { o := full(); o.Intended, o.Time = time.Time{}, time.Time{}; return o }},
		{"empty map", func() Op { o := full(); o.Value = map[string]string{}; return o }},
		{"empty map values", func() Op { o := full(); o.Value = map[string]string{"": ""}; return o }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			op := tc.op()
			want, err := json.Marshal(op)
			require.NoError(t, err)
			require.Equal(t, string(want), string(op.AppendJSON(nil)))
			// Appending keeps what was there.
			require.Equal(t, "prefix"+string(want), string(op.AppendJSON([]byte("prefix"))))
		})
	}
}

func TestAppendJSONTimesJSONRefuses(t *testing.T) {
	for _, tm := range []time.Time{
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("far", 24*3600)),
		time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("far", -25*3600)),
	} {
		op := Op{ID: "x", Intended: t0, Time: tm}
		_, err := json.Marshal(op)
		require.Error(t, err, "%v", tm)
		var buf bytes.Buffer
		w := NewWriter(&buf)
		require.ErrorContains(t, w.Write(op), "write history entry 0")
		require.NoError(t, w.Flush())
		require.Empty(t, buf.String(), "nothing written for a refused entry")
	}
}

// The writer's lines are json.Encoder's, and Read reads them back.
func TestWriterMatchesEncoder(t *testing.T) {
	ops := []Op{full(), {ID: "a", Type: Invoke, Process: "c", F: Validate, Intended: t0, Time: t0}, {Process: Nemesis, F: "kill", Value: map[string]string{"replica": "web.1"}, Time: t0}}
	var got, want bytes.Buffer
	w := NewWriter(&got)
	enc := json.NewEncoder(&want)
	for i, op := range ops {
		require.NoError(t, w.Write(op))
		op.Index = int64(i)
		require.NoError(t, enc.Encode(op))
	}
	require.NoError(t, w.Flush())
	require.Equal(t, want.String(), got.String())

	back, err := Read(&got, "h.jsonl")
	require.NoError(t, err)
	require.Len(t, back, len(ops))
	for i := range ops {
		require.EqualValues(t, i, back[i].Index)
		require.True(t, ops[i].Time.Equal(back[i].Time))
		require.Equal(t, ops[i].ID, back[i].ID)
		require.Equal(t, ops[i].Value, back[i].Value)
	}
}

// A large entry (a long error text) goes through the buffer whole.
func TestWriterLongEntries(t *testing.T) {
	var got bytes.Buffer
	w := NewWriter(&got)
	long := full()
	long.Error = strings.Repeat("<x>", 100_000)
	for range 3 {
		require.NoError(t, w.Write(long))
	}
	require.NoError(t, w.Flush())
	back, err := Read(&got, "long.jsonl")
	require.NoError(t, err)
	require.Len(t, back, 3)
	require.Equal(t, long.Error, back[2].Error)
}

func TestReadNamesBadLine(t *testing.T) {
	_, err := Read(strings.NewReader("{\"index\":0}\n\n{nope\n"), "bad.jsonl")
	require.ErrorContains(t, err, "bad.jsonl:3")
}

func FuzzAppendJSON(f *testing.F) {
	f.Add("id", "redeem", "client<1>", "caf\xe9 \u2028", "k\x00", int64(5000), int64(-3), 503, int64(1_700_000_000_123456789), int64(7200), int64(30e9), uint8(1), "target", "a&b")
	f.Add("", "", "", "", "", int64(0), int64(0), 0, int64(0), int64(0), int64(0), uint8(0), "", "")
	f.Add("\"\\", "\t\n", "\xff", "🎟", "\u2029", int64(-1), int64(1<<62), -1, int64(-9223372036854775808), int64(-86399), int64(-1), uint8(2), "\x7f", "<>")
	f.Fuzz(func(t *testing.T, id, fn, process, customer, key string, amount, applied int64, status int,
		unixNano, zone, latency int64, valid uint8, vk, vv string) {
		op := Op{
			Index: amount ^ applied, ID: id, Type: Type(fn), Process: process, F: fn,
			Voucher: key + customer, Customer: customer, IdempotencyKey: key, Amount: amount, Applied: applied,
			RedemptionID: vv, RollbackID: vk, Platform: process, Status: status, HerokuCode: fn,
			ErrorKey: key, Error: customer + id, RequestID: id,
			Intended: time.Unix(0, unixNano).In(time.FixedZone("z", int(zone%(30*3600)))),
			Time:     time.Unix(unixNano/1e6, latency%1e9).UTC(), // years far outside 0–9999 too
			Latency:  time.Duration(latency), Stage: vv,
		}
		switch valid % 3 {
		case 1:
			op.Valid = ptr(true)
		case 2:
			op.Valid = ptr(false)
		}
		if vk != "" || vv != "" {
			op.Value = map[string]string{vk: vv, vv: id, "k": customer}
		}
		want, wantErr := json.Marshal(op)
		got, err := op.appendJSON(nil)
		if wantErr != nil {
			require.Error(t, err, "json.Marshal: %v", wantErr)
			return
		}
		require.NoError(t, err)
		require.Equal(t, string(want), string(got))
		require.Equal(t, string(want), string(op.AppendJSON(nil)))
	})
}

// BenchmarkWriter compares, side by side, the writer (AppendJSON) with
// json.Encoder writing the same entries; appendjson/encoder is the time
// ratio.
func BenchmarkWriter(b *testing.B) {
	op := full()
	op.Value = nil
	var ours, theirs time.Duration
	var n int
	w := NewWriter(io.Discard)
	enc := json.NewEncoder(io.Discard)
	for b.Loop() {
		start := time.Now()
		for range 1000 {
			if err := w.Write(op); err != nil {
				b.Fatal(err)
			}
		}
		mid := time.Now()
		for range 1000 {
			if err := enc.Encode(op); err != nil {
				b.Fatal(err)
			}
		}
		ours, theirs, n = ours+mid.Sub(start), theirs+time.Since(mid), n+1000
	}
	b.ReportMetric(float64(ours.Nanoseconds())/float64(n), "appendjson_ns/op")
	b.ReportMetric(float64(theirs.Nanoseconds())/float64(n), "encoder_ns/op")
	b.ReportMetric(ours.Seconds()/theirs.Seconds(), "appendjson/encoder")
}
