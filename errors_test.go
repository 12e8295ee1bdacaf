package mixed

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// TestErrorTexts is the one test that reads error messages: each has a
// single "mixed: " prefix, and an offset exactly when it has a position
// in an input (an argument refused by a writer, ParseBoundary or a
// Reader's setup has none: Offset -1, and no "at offset" in the text).
func TestErrorTexts(t *testing.T) {
	type errCase struct {
		name       string
		err        error
		positioned bool
	}
	var cases []errCase
	add := func(name string, positioned bool, err error) {
		cases = append(cases, errCase{name, err, positioned})
	}
	parseErr := func(ct string) error {
		_, err := ParseBoundary(ct)
		return err
	}
	add("ParseBoundary media type", false, parseErr("text/plain"))
	add("ParseBoundary no boundary", false, parseErr("multipart/mixed"))
	add("ParseBoundary unterminated", false, parseErr(`multipart/mixed; boundary="a`))
	add("ParseBoundary bad boundary", false, parseErr(`multipart/mixed; boundary="a;b"`))
	add("ParseBoundary twice", false, parseErr(`multipart/mixed; boundary=a; boundary*=b`))
	readErr := func(in, boundary string) error {
		_, err := readParts(strings.NewReader(in), boundary, ReaderOptions{})
		return err
	}
	add("Reader bad boundary", false, readErr("--a\r\n\r\nx\r\n--a--", ""))
	add("Reader non-bchar boundary", false, readErr("--a;b\r\n\r\nx\r\n--a;b--", "a;b"))
	add("Reader truncated", true, readErr("--a\r\n\r\nx", "a"))
	add("Reader bad header", true, readErr("--a\r\nno colon\r\n\r\nx\r\n--a--", "a"))
	{
		r := NewReaderOptions(strings.NewReader(nested(2)), "b0", ReaderOptions{MaxDepth: 1})
		p, err := r.NextPart()
		if err != nil {
			t.Fatal(err)
		}
		q, err := NewReader(p, "b1").NextPart()
		if err != nil {
			t.Fatal(err)
		}
		_, err = NewReader(q, "b2").NextPart()
		add("Reader nesting", false, err)
	}
	{
		w := NewWriter(io.Discard)
		add("SetBoundary invalid", false, w.SetBoundary("a\nb"))
		_, err := w.CreatePart(headerOf(hdr("Bad Name", "v")))
		add("CreatePart invalid field", false, err)
		if _, err := w.CreatePart(nil); err != nil {
			t.Fatal(err)
		}
		_, err = w.CreatePart(headerOf(hdr("A", "\x00")))
		add("CreatePart invalid field after a part", false, err)
		add("SetBoundary late", false, w.SetBoundary("abc"))
		var h Header
		for range DefaultMaxHeaderFields + 1 {
			h.Add("A", "1")
		}
		_, err = w.CreatePart(&h)
		add("CreatePart too many fields", false, err)
		add("WriteRequest too many fields", false, NewMessageWriter().WriteRequest(io.Discard, "GET", "/", &h, nil))
	}
	{
		mw := NewMessageWriter()
		add("WriteRequest method", false, mw.WriteRequest(io.Discard, "G T", "/", nil, nil))
		add("WriteRequest target", false, mw.WriteRequest(io.Discard, "GET", "/a b", nil, nil))
		add("WriteRequest target form", false, mw.WriteRequest(io.Discard, "GET", "http://h/", nil, nil))
		add("WriteResponse status", false, mw.WriteResponse(io.Discard, 42, "", nil, nil))
		add("WriteResponse body", false, mw.WriteResponse(io.Discard, 204, "", nil, []byte("x")))
		add("WriteResponse field", false, mw.WriteResponse(io.Discard, 200, "", headerOf(hdr("A", "\r")), nil))
		req, _ := http.NewRequest("POST", "http://h/x", strings.NewReader("abc"))
		req.ContentLength = 5
		add("WriteHTTPRequest short body", false, mw.WriteHTTPRequest(io.Discard, req))
	}
	msgErr := func(in string, request bool) error {
		m := NewMessageReader(strings.NewReader(in))
		var err error
		if request {
			_, err = readTestRequest(m, strings.NewReader(in))
		} else {
			_, err = readTestResponse(m, strings.NewReader(in), "")
		}
		return err
	}
	add("ReadRequest method", true, msgErr("G@T / HTTP/1.1\r\n\r\n", true))
	add("ReadRequest truncated", true, msgErr("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab", true))
	add("ReadRequest data after", true, msgErr("GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\nGET / HTTP/1.1\r\n\r\n", true))
	add("ReadResponse status", true, msgErr("HTTP/1.1 2000 OK\r\n\r\n", false))
	{
		m := NewMessageReaderOptions(strings.NewReader("GET /%zz HTTP/1.1\r\n\r\n"), MessageOptions{})
		_, err := m.ReadRequest()
		add("ReadRequest bad escape", true, err)
	}

	for _, c := range cases {
		if c.err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		msg := c.err.Error()
		if !strings.HasPrefix(msg, "mixed: ") || strings.Count(msg, "mixed:") != 1 {
			t.Errorf("%s: %q does not have exactly one \"mixed: \" prefix", c.name, msg)
		}
		var se *SyntaxError
		if !errors.As(c.err, &se) {
			if c.positioned || strings.Contains(msg, "offset") {
				t.Errorf("%s: %q is not a *SyntaxError", c.name, msg)
			}
			continue
		}
		switch {
		case c.positioned && se.Offset < 0:
			t.Errorf("%s: %q has no position", c.name, msg)
		case c.positioned && !strings.HasSuffix(msg, " at offset "+strconv.FormatInt(se.Offset, 10)):
			t.Errorf("%s: %q does not end with its offset %d", c.name, msg, se.Offset)
		case !c.positioned && (se.Offset != -1 || strings.Contains(msg, "offset")):
			t.Errorf("%s: %q (Offset %d) has a position, though it concerns no input", c.name, msg, se.Offset)
		}
	}
}

// A SyntaxError made by a caller, without Err, still prints one prefix.
func TestSyntaxErrorZero(t *testing.T) {
	for _, e := range []*SyntaxError{{}, {Offset: -1, Reason: "r"}, {Err: io.ErrUnexpectedEOF, Offset: 3}} {
		msg := e.Error()
		if strings.Count(msg, "mixed: ") != 1 || bytes.Contains([]byte(msg), []byte("offset -1")) {
			t.Errorf("%#v: %q", e, msg)
		}
	}
}
