package importer

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/cutover/cutover/harness/traffic/trace"
)

// harEntry is the part of a HAR 1.2 entry an import needs.
type harEntry struct {
	StartedDateTime string `json:"startedDateTime"`
	Connection      string `json:"connection"`
	Request         struct {
		Method  string `json:"method"`
		URL     string `json:"url"`
		Headers []struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		} `json:"headers"`
		PostData *struct {
			MimeType string `json:"mimeType"`
			Text     string `json:"text"`
			Encoding string `json:"encoding"` // non-standard, written by some tools
		} `json:"postData"`
	} `json:"request"`
}

// ReadHAR imports the requests of a HAR 1.2 archive (log.entries[].request,
// timed by startedDateTime). HTTP/2 pseudo-headers (":authority") are dropped.
func ReadHAR(r io.Reader, name string, opt Options) ([]trace.Request, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s: read: %w", name, err)
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	at := func(err error) error {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return fmt.Errorf("%s:%d: har: %w", name, lineAt(data, se.Offset), err)
		case errors.As(err, &te):
			return fmt.Errorf("%s:%d: har: %w", name, lineAt(data, te.Offset), err)
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return fmt.Errorf("%s:%d: har: unexpected end of file", name, lineAt(data, int64(len(data))))
		}
		return fmt.Errorf("%s:%d: har: %w", name, lineAt(data, dec.InputOffset()), err)
	}
	var rs []raw
	found := false
	err = walkObject(dec, func(key string) error {
		if key != "log" {
			return skipValue(dec)
		}
		return walkObject(dec, func(key string) error {
			if key != "entries" {
				return skipValue(dec)
			}
			found = true
			if err := expectDelim(dec, '['); err != nil {
				return err
			}
			for dec.More() {
				start := nextValueOffset(data, dec.InputOffset())
				line := lineAt(data, start)
				var e harEntry
				if err := dec.Decode(&e); err != nil {
					// A decoder's offsets count from the value it decodes.
					var se *json.SyntaxError
					var te *json.UnmarshalTypeError
					switch {
					case errors.As(err, &se):
						line = lineAt(data, start+se.Offset-1)
					case errors.As(err, &te):
						line = lineAt(data, start+te.Offset-1)
					}
					return fmt.Errorf("%s:%d: har entry %d: %w", name, line, len(rs)+1, err)
				}
				rq, err := harRequest(e)
				if err != nil {
					return fmt.Errorf("%s:%d: har entry %d: %w", name, line, len(rs)+1, err)
				}
				rq.line = line
				rs = append(rs, rq)
			}
			return expectDelim(dec, ']')
		})
	})
	if err != nil {
		if strings.HasPrefix(err.Error(), name+":") {
			return nil, err
		}
		return nil, at(err)
	}
	if !found {
		return nil, fmt.Errorf("%s:1: har: no log.entries (is this a HAR 1.2 file?)", name)
	}
	return finish(name, rs, opt)
}

func harRequest(e harEntry) (raw, error) {
	t, err := time.Parse(time.RFC3339Nano, e.StartedDateTime)
	if err != nil {
		return raw{}, fmt.Errorf("startedDateTime: %q is not an ISO 8601 time", e.StartedDateTime)
	}
	if e.Request.Method == "" {
		return raw{}, errors.New("request.method: missing")
	}
	if e.Request.URL == "" {
		return raw{}, errors.New("request.url: missing")
	}
	h := http.Header{}
	for _, kv := range e.Request.Headers {
		if strings.HasPrefix(kv.Name, ":") || kv.Name == "" {
			continue
		}
		h.Add(kv.Name, kv.Value)
	}
	var body []byte
	if pd := e.Request.PostData; pd != nil {
		body = []byte(pd.Text)
		if pd.Encoding == "base64" {
			if body, err = base64.StdEncoding.DecodeString(pd.Text); err != nil {
				return raw{}, fmt.Errorf("request.postData.text: bad base64: %w", err)
			}
		}
		if pd.MimeType != "" && h.Get("Content-Type") == "" {
			h.Set("Content-Type", pd.MimeType)
		}
	}
	client := ""
	if e.Connection != "" {
		client = "conn-" + e.Connection
	}
	return raw{at: time.Duration(t.UnixNano()), method: e.Request.Method, target: e.Request.URL, header: h, body: body, client: client}, nil
}

// walkObject reads a JSON object, calling fn with the decoder positioned
// at each key's value; fn must consume the value.
func walkObject(dec *json.Decoder, fn func(key string) error) error {
	if err := expectDelim(dec, '{'); err != nil {
		return err
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, ok := tok.(string)
		if !ok {
			return fmt.Errorf("want an object key, got %v", tok)
		}
		if err := fn(key); err != nil {
			return err
		}
	}
	return expectDelim(dec, '}')
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("want %q, got %v", string(want), tok)
	}
	return nil
}

func skipValue(dec *json.Decoder) error {
	var v json.RawMessage
	return dec.Decode(&v)
}

// nextValueOffset skips the white space and comma after off.
func nextValueOffset(data []byte, off int64) int64 {
	for off < int64(len(data)) && strings.IndexByte(" \t\r\n,", data[off]) >= 0 {
		off++
	}
	return off
}
