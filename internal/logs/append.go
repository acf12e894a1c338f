package logs

import (
	"strconv"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// The per-request lines (access_log, api_tokens_log, the audit stream) are
// built by appending to one buffer, without fmt or reflection: these run on
// every request.

// appendField appends field(s); it copies s as it is when nothing in it
// needs changing (the common case) and only then pays for field's copy.
func appendField(b []byte, s string) []byte {
	if plainField(s, false) {
		return append(b, s...)
	}
	return append(b, field(s)...)
}

// appendWord appends word(s) as appendField does field(s).
func appendWord(b []byte, s string) []byte {
	if plainField(s, true) {
		return append(b, s...)
	}
	return append(b, word(s)...)
}

// plainField reports whether field(s) (word(s) when noSpace) is s itself.
func plainField(s string, noSpace bool) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20, c == 0x7f, c == '"', c == '\'', c == '[', c == ']', c >= utf8.RuneSelf:
			return false
		case c == ' ' && noSpace:
			return false
		}
	}
	return true
}

// stamp is a time format's text for one second, kept because the lines
// of one second share it.
type stamp struct {
	sec  int64
	text string
}

// stamper formats whole seconds in one layout, once a second.
type stamper struct {
	layout string
	last   atomic.Pointer[stamp]
}

func (s *stamper) append(b []byte, t time.Time) []byte {
	t = t.UTC()
	sec := t.Unix()
	if p := s.last.Load(); p != nil && p.sec == sec {
		return append(b, p.text...)
	}
	text := t.Format(s.layout)
	s.last.Store(&stamp{sec: sec, text: text})
	return append(b, text...)
}

var (
	cpanelStamp = stamper{layout: "2006-01-02 15:04:05 +0000"}
	accessStamp = stamper{layout: "01/02/2006:15:04:05 -0000"}
)

func appendCPanelTime(b []byte, t time.Time) []byte { return cpanelStamp.append(b, t) }

const hex = "0123456789abcdef"

// appendJSONString appends s as a JSON string exactly as encoding/json
// writes it (HTML-safe escaping of <, > and &, U+2028 and U+2029 escaped,
// invalid UTF-8 replaced by U+FFFD).
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
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
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
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

// appendDecision appends d as the JSON object encoding/json makes of it
// (the same keys in the same order, the same omissions).
func appendDecision(b []byte, d Decision) []byte {
	b = append(b, `{"time":"`...)
	b = d.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	if d.RequestID != "" {
		b = append(b, `,"request_id":`...)
		b = appendJSONString(b, d.RequestID)
	}
	b = append(b, `,"service":`...)
	b = appendJSONString(b, d.Service)
	if d.Port != 0 {
		b = append(b, `,"port":`...)
		b = strconv.AppendInt(b, int64(d.Port), 10)
	}
	b = append(b, `,"tls":`...)
	b = strconv.AppendBool(b, d.TLS)
	for _, kv := range [...]struct {
		key, value string
		omitEmpty  bool
	}{
		{`,"address":`, d.Address, false},
		{`,"user":`, d.User, false},
		{`,"method":`, d.Method, false},
		{`,"result":`, d.Result, false},
		{`,"reason":`, d.Reason, false},
		{`,"detail":`, d.Detail, true},
		{`,"token_name":`, d.TokenName, true},
		{`,"session":`, d.Session, true},
		{`,"path":`, d.Path, true},
		{`,"function":`, d.Function, true},
	} {
		if kv.omitEmpty && kv.value == "" {
			continue
		}
		b = append(b, kv.key...)
		b = appendJSONString(b, kv.value)
	}
	if d.BackendStatus != 0 {
		b = append(b, `,"backend_status":`...)
		b = strconv.AppendInt(b, int64(d.BackendStatus), 10)
	}
	if d.BackendMicros != 0 {
		b = append(b, `,"backend_us":`...)
		b = strconv.AppendInt(b, d.BackendMicros, 10)
	}
	if d.Suppressed != 0 {
		b = append(b, `,"suppressed":`...)
		b = strconv.AppendInt(b, d.Suppressed, 10)
	}
	if d.PeriodSeconds != 0 {
		b = append(b, `,"period_s":`...)
		b = strconv.AppendInt(b, d.PeriodSeconds, 10)
	}
	return append(b, '}')
}
