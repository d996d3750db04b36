package history

import (
	"errors"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// AppendJSON appends op's JSON encoding to b: exactly the bytes
// encoding/json's Marshal writes for it (the same field order, omitempty,
// HTML-safe string escaping, RFC 3339 times with nanoseconds, map keys in
// order), without reflection or allocations. It is the history writer's
// hot path: the replayer writes two entries per request.
//
// A time json.Marshal refuses (a year outside 0–9999, a zone offset of
// 24 h or more) is appended as time.RFC3339Nano formats it; Writer.Write
// refuses such an entry, as json.Encoder would.
func (op *Op) AppendJSON(b []byte) []byte {
	b, _ = op.appendJSON(b)
	return b
}

// errTimeRange is the error of an entry whose times JSON cannot carry.
var errTimeRange = errors.New("intended or time: year outside 0–9999 or zone offset of 24 h or more")

func (op *Op) appendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"index":`...)
	b = strconv.AppendInt(b, op.Index, 10)
	b = append(b, `,"id":`...)
	b = appendString(b, op.ID)
	b = append(b, `,"type":`...)
	b = appendString(b, string(op.Type))
	b = append(b, `,"process":`...)
	b = appendString(b, op.Process)
	b = append(b, `,"f":`...)
	b = appendString(b, op.F)
	b = appendStringField(b, `,"voucher":`, op.Voucher)
	b = appendStringField(b, `,"customer":`, op.Customer)
	b = appendStringField(b, `,"idempotency_key":`, op.IdempotencyKey)
	b = appendIntField(b, `,"amount":`, op.Amount)
	b = appendIntField(b, `,"applied":`, op.Applied)
	b = appendStringField(b, `,"redemption_id":`, op.RedemptionID)
	b = appendStringField(b, `,"rollback_id":`, op.RollbackID)
	if op.Valid != nil {
		b = append(b, `,"valid":`...)
		b = strconv.AppendBool(b, *op.Valid)
	}
	b = appendStringField(b, `,"platform":`, op.Platform)
	b = appendIntField(b, `,"status":`, int64(op.Status))
	b = appendStringField(b, `,"heroku_code":`, op.HerokuCode)
	b = appendStringField(b, `,"error_key":`, op.ErrorKey)
	b = appendStringField(b, `,"error":`, op.Error)
	b = appendStringField(b, `,"request_id":`, op.RequestID)
	b = append(b, `,"intended":`...)
	b, ok1 := appendTime(b, op.Intended)
	b = append(b, `,"time":`...)
	b, ok2 := appendTime(b, op.Time)
	b = appendIntField(b, `,"latency_ns":`, int64(op.Latency))
	b = appendStringField(b, `,"stage":`, op.Stage)
	if len(op.Value) > 0 {
		b = append(b, `,"value":{`...)
		keys := make([]string, 0, len(op.Value))
		for k := range op.Value {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			b = appendString(b, op.Value[k])
		}
		b = append(b, '}')
	}
	b = append(b, '}')
	if !ok1 || !ok2 {
		return b, errTimeRange
	}
	return b, nil
}

func appendStringField(b []byte, name, s string) []byte {
	if s == "" {
		return b
	}
	return appendString(append(b, name...), s)
}

func appendIntField(b []byte, name string, v int64) []byte {
	if v == 0 {
		return b
	}
	return strconv.AppendInt(append(b, name...), v, 10)
}

// appendTime appends t as time.Time's MarshalJSON writes it, and says
// whether MarshalJSON would accept it (a four-digit year, a zone offset
// under 24 h).
func appendTime(b []byte, t time.Time) ([]byte, bool) {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	_, offset := t.Zone()
	if offset < 0 {
		offset = -offset
	}
	year := t.Year()
	return b, year >= 0 && year <= 9999 && offset < 24*60*60
}

// safe marks the ASCII bytes encoding/json writes unescaped with HTML
// escaping on (its htmlSafeSet): printable ASCII but for ", \, <, > and &.
var safe = func() (s [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		s[c] = true
	}
	for _, c := range `"\<>&` {
		s[c] = false
	}
	return s
}()

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string the way encoding/json does with
// HTML escaping (json.Marshal, json.Encoder by default): \" \\ \b \f \n \r
// \t, \u00XX for other control bytes and <, >, &, \ufffd for each invalid
// UTF-8 byte, \u2028 and \u2029 escaped.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if safe[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
