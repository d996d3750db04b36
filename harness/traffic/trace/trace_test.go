package trace

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func sample() []Request {
	redeem := Request{At: 0.5, Client: "c1", Op: "redeem", Method: "POST", Path: "/v1/vouchers/SAVE-1/redemption",
		Voucher: "SAVE-1", Customer: "cust-1", Amount: 4200, Key: "k1",
		Headers: map[string]string{"Idempotency-Key": "k1", "Content-Type": "application/json"}}
	redeem.SetBody([]byte(`{"customer":{"source_id":"cust-1"},"order":{"amount":4200}}`))
	text := Request{At: 0.75, Client: "c2", Op: "other", Method: "POST", Path: "/echo"}
	text.SetBody([]byte("plain text"))
	bin := Request{At: 0.75, Client: "c2", Op: "other", Method: "POST", Path: "/bin"}
	bin.SetBody([]byte{0xff, 0x00, 0xfe})
	return []Request{
		{At: 0, Client: "c1", Op: "validate", Method: "POST", Path: "/v1/vouchers/SAVE-1/validate"},
		redeem, text, bin,
		{At: 2, Client: "c1", Op: "rollback", Method: "POST", Path: "/v1/redemptions/" + RedemptionPlaceholder + "/rollback", Undoes: "k1"},
	}
}

func TestRoundTrip(t *testing.T) {
	for _, name := range []string{"t.jsonl", "t.jsonl.gz"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), name)
			w, err := Create(path, Meta{Source: "test", Seed: 7})
			require.NoError(t, err)
			for _, r := range sample() {
				require.NoError(t, w.Write(r))
			}
			require.NoError(t, w.Close())

			meta, got, err := ReadAll(path)
			require.NoError(t, err)
			require.Equal(t, "test", meta.Source)
			require.Equal(t, Format, meta.Format)
			require.Len(t, got, len(sample()))
			for i, want := range sample() {
				wb, _ := want.BodyBytes()
				gb, err := got[i].BodyBytes()
				require.NoError(t, err)
				require.Equal(t, wb, gb, "body of line %d", i)
				require.Equal(t, want.Path, got[i].Path)
				require.Equal(t, want.Undoes, got[i].Undoes)
			}
			side, ok, err := ReadMeta(path)
			require.NoError(t, err)
			require.True(t, ok)
			require.EqualValues(t, 5, side.Requests)
			require.EqualValues(t, 2, side.Duration)
		})
	}
}

func TestWriterDeterministic(t *testing.T) {
	write := func() []byte {
		var buf bytes.Buffer
		w, err := NewWriter(&buf, "mem", Meta{Source: "x"}, true)
		require.NoError(t, err)
		for _, r := range sample() {
			require.NoError(t, w.Write(r))
		}
		require.NoError(t, w.Close())
		return buf.Bytes()
	}
	require.Equal(t, write(), write())
}

func TestReaderErrors(t *testing.T) {
	good := `{"at":0,"client":"c","op":"get","method":"GET","path":"/v1/vouchers/A"}`
	for _, tc := range []struct {
		name, input, want string
	}{
		{"bad json", good + "\n{\"at\":1,", "bad.jsonl:2:"},
		{"negative offset", `{"at":-1,"client":"c","op":"get","method":"GET","path":"/x"}`, "bad.jsonl:1: at:"},
		{"missing method", `{"at":1,"client":"c","op":"get","path":"/x"}`, "bad.jsonl:1: method: missing"},
		{"unknown op", `{"at":1,"client":"c","op":"dance","method":"GET","path":"/x"}`, "bad.jsonl:1: op: unknown"},
		{"path", `{"at":1,"client":"c","op":"get","method":"GET","path":"x"}`, "bad.jsonl:1: path:"},
		{"client", `{"at":1,"op":"get","method":"GET","path":"/x"}`, "bad.jsonl:1: client: missing"},
		{"unsorted", good + "\n\n" + strings.Replace(good, `"at":0`, `"at":3`, 1) + "\n" + good, "bad.jsonl:4: at:"},
		{"rollback without ref", `{"at":1,"client":"c","op":"rollback","method":"POST","path":"/v1/redemptions/{redemption_id}/rollback"}`, "bad.jsonl:1: undoes:"},
		{"bad base64", `{"at":1,"client":"c","op":"other","method":"POST","path":"/x","body":"!!","body_encoding":"base64"}`, "bad.jsonl:1: body: bad base64"},
		{"meta format", `{"meta":{"format":"other/9"}}`, "bad.jsonl:1: meta.format"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := readString(tc.input)
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
		})
	}
}

func readString(s string) error {
	r, err := NewReader(strings.NewReader(s), "bad.jsonl")
	if err != nil {
		return err
	}
	for {
		_, err := r.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func TestReaderGzipWithoutMeta(t *testing.T) {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	_, _ = gz.Write([]byte(`{"at":0,"client":"c","op":"get","method":"GET","path":"/v1/vouchers/A"}` + "\n"))
	require.NoError(t, gz.Close())
	r, err := NewReader(&buf, "x.gz")
	require.NoError(t, err)
	_, ok := r.Meta()
	require.False(t, ok)
	req, err := r.Next()
	require.NoError(t, err)
	require.Equal(t, "/v1/vouchers/A", req.Path)
	_, err = r.Next()
	require.ErrorIs(t, err, io.EOF)
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct{ method, path, op, subject string }{
		{"POST", "/v1/vouchers/AB-1/validate", "validate", "AB-1"},
		{"POST", "/v1/vouchers/AB-1/redemption", "redeem", "AB-1"},
		{"POST", "/v1/redemptions/r_1/rollback?reason=x", "rollback", "r_1"},
		{"POST", "/v1/vouchers/import", "import", ""},
		{"GET", "/v1/vouchers/export?format=jsonl", "export", ""},
		{"POST", "/v1/vouchers", "create", ""},
		{"POST", "/v1/vouchers/NEW-1", "create", "NEW-1"},
		{"GET", "/v1/vouchers/AB-1", "get", "AB-1"},
		{"GET", "/v1/redemptions?voucher=AB-1", "list", ""},
		{"GET", "/healthz", "other", ""},
		{"DELETE", "/v1/vouchers/AB-1", "other", ""},
	} {
		op, subject := Classify(tc.method, tc.path)
		require.Equal(t, tc.op, op, "%s %s", tc.method, tc.path)
		require.Equal(t, tc.subject, subject, "%s %s", tc.method, tc.path)
	}
}

func TestAnnotate(t *testing.T) {
	r := Request{Method: "POST", Path: "/v1/vouchers/SAVE-9/redemption", Headers: map[string]string{"idempotency-key": "abc"}}
	r.SetBody([]byte(`{"customer":{"source_id":"cust-9"},"order":{"amount":1500}}`))
	Annotate(&r)
	require.Equal(t, "redeem", r.Op)
	require.Equal(t, "SAVE-9", r.Voucher)
	require.Equal(t, "cust-9", r.Customer)
	require.EqualValues(t, 1500, r.Amount)
	require.Equal(t, "abc", r.Key)
}

func TestSummarize(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.jsonl")
	w, err := Create(path, Meta{})
	require.NoError(t, err)
	for i := 0; i < 30; i++ {
		r := Request{At: float64(i) / 10, Client: "c", Op: "redeem", Method: "POST", Path: "/v1/vouchers/A/redemption", Voucher: "A", Key: "k"}
		if i%3 == 0 {
			r = Request{At: float64(i) / 10, Client: "d", Op: "get", Method: "GET", Path: "/v1/vouchers/B", Voucher: "B"}
		}
		require.NoError(t, w.Write(r))
	}
	require.NoError(t, w.Close())
	r, err := Open(path)
	require.NoError(t, err)
	defer r.Close()
	st, err := Summarize(r, 1)
	require.NoError(t, err)
	require.EqualValues(t, 30, st.Requests)
	require.Equal(t, 2, st.Clients)
	require.EqualValues(t, 19, st.Retries) // 20 redeems with one key
	require.Equal(t, "redeem", st.Ops[0].Name)
	require.EqualValues(t, 20, st.Ops[0].Count)
	require.Equal(t, []Count{{Name: "A", Count: 20, Share: 20.0 / 30}}, st.TopVouchers)
	require.EqualValues(t, 10, st.Rate.Max)
	var out bytes.Buffer
	require.NoError(t, st.WriteText(&out))
	require.Contains(t, out.String(), "requests")
}

func TestOpenMissing(t *testing.T) {
	_, err := Open(filepath.Join(t.TempDir(), "nope.jsonl"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

func FuzzReader(f *testing.F) {
	f.Add([]byte(`{"meta":{"format":"cutover-trace/1"}}` + "\n" + `{"at":0,"client":"c","op":"get","method":"GET","path":"/v1/vouchers/A"}`))
	f.Add([]byte(`{"at":1,"client":"c","op":"other","method":"POST","path":"/x","body":"aGk=","body_encoding":"base64"}`))
	f.Add([]byte("\n\n{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewReader(bytes.NewReader(data), "fuzz")
		if err != nil {
			return
		}
		for i := 0; i < 1000; i++ {
			req, err := r.Next()
			if err != nil {
				return
			}
			// Anything the reader accepts must survive a write and a read.
			var buf bytes.Buffer
			w, err := NewWriter(&buf, "fuzz-out", Meta{}, false)
			require.NoError(t, err)
			require.NoError(t, w.Write(req))
			require.NoError(t, w.Close())
			r2, err := NewReader(&buf, "fuzz-out")
			require.NoError(t, err)
			_, err = r2.Next()
			require.NoError(t, err)
		}
	})
}
