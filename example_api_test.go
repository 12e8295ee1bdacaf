package mixed_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"strings"

	"github.com/mixedcodec/mixed"
)

// Read the parts of a body already in memory without copying it: body
// views are subslices of the input and stay valid after the next part.
func ExampleBytesReader() {
	data := []byte("--b\r\nContent-ID: <1>\r\n\r\nfirst\r\n--b\r\nContent-ID: <2>\r\n\r\nsecond\r\n--b--\r\n")
	br := mixed.NewBytesReader(data, "b")
	var bodies [][]byte
	for {
		part, err := br.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		body, err := part.ReadChunk() // the whole body, a view of data
		if err != nil && err != io.EOF {
			log.Fatal(err)
		}
		fmt.Printf("%s ", part.Header.Get("Content-ID"))
		bodies = append(bodies, body)
	}
	fmt.Printf("%s\n", bytes.Join(bodies, []byte(",")))
	// Output:
	// <1> <2> first,second
}

// Limits have safe defaults; a stricter one is its own error.
func ExampleReaderOptions() {
	body := "--b\r\n\r\none\r\n--b\r\n\r\ntwo\r\n--b\r\n\r\nthree\r\n--b--\r\n"
	r := mixed.NewReaderOptions(strings.NewReader(body), "b", mixed.ReaderOptions{MaxParts: 2})
	for {
		_, err := r.NextPart()
		if err != nil {
			fmt.Println(errors.Is(err, mixed.ErrTooManyParts), err)
			break
		}
	}
	// Output:
	// true mixed: too many parts: more than 2 parts at offset 29
}

// A Writer refuses to write a part header that a Reader with the same
// limits would refuse.
func ExampleWriterOptions() {
	w := mixed.NewWriterOptions(io.Discard, mixed.WriterOptions{MaxHeaderFields: 1})
	var h mixed.Header
	h.Add("Content-Type", "application/http")
	h.Add("Content-ID", "<1>")
	_, err := w.CreatePart(&h)
	fmt.Println(errors.Is(err, mixed.ErrTooManyFields))
	// Output:
	// true
}

// MessageOptions allow more than origin-form targets, here OData's
// targets relative to the service root, to a MessageWriter and to the
// MessageReader that reads what it wrote.
func ExampleMessageOptions() {
	odata := mixed.MessageOptions{AllowRelativeTargets: true}
	var msg bytes.Buffer
	if err := mixed.NewMessageWriterOptions(odata).WriteRequest(&msg, "GET", "Customers('ALFKI')", nil, nil); err != nil {
		log.Fatal(err)
	}
	req, err := mixed.NewMessageReaderOptions(bytes.NewReader(msg.Bytes()), odata).ReadRequest()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s %s\n", req.Method, req.Target)

	// By default, only origin-form (/path?query).
	err = mixed.NewMessageWriter().WriteRequest(io.Discard, "GET", "Customers('ALFKI')", nil, nil)
	fmt.Println(errors.Is(err, mixed.ErrBadTargetForm))
	_, err = mixed.NewMessageReader(bytes.NewReader(msg.Bytes())).ReadRequest()
	fmt.Println(errors.Is(err, mixed.ErrBadTargetForm))
	// Output:
	// GET Customers('ALFKI')
	// true
	// true
}

// Convert an embedded response to a net/http one. Its body streams from
// the part: read it before the next part, or it fails.
func ExampleResponse_HTTPResponse() {
	body := "--b\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok\r\n--b\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n\r\n--b--\r\n"
	r := mixed.NewReader(strings.NewReader(body), "b")
	var m mixed.MessageReader
	var kept *http.Response
	for {
		part, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		m.Reset(part)
		msg, err := m.ReadResponse("")
		if err != nil {
			log.Fatal(err)
		}
		res := msg.HTTPResponse(nil)
		if kept == nil {
			b, _ := io.ReadAll(res.Body) // in time
			fmt.Printf("%s %s\n", res.Status, b)
			kept = res
		}
	}
	_, err := io.ReadAll(kept.Body) // too late: the MessageReader moved on
	fmt.Println(err)
	// Output:
	// 200 OK ok
	// http: invalid Read on closed Body
}

// Every error wraps a sentinel, most inside a *SyntaxError that says
// where.
func ExampleSyntaxError() {
	r := mixed.NewReader(strings.NewReader("--b\r\nno colon\r\n\r\n\r\n--b--\r\n"), "b")
	_, err := r.NextPart()
	var se *mixed.SyntaxError
	if errors.As(err, &se) {
		fmt.Println(errors.Is(err, mixed.ErrSyntax), se.Offset, se.Reason)
	}
	// Output:
	// true 5 header line without colon
}

// Pass an http.Header (or a textproto.MIMEHeader) to CreatePart in one
// call.
func ExampleHeaderFrom() {
	var body bytes.Buffer
	w := mixed.NewWriter(&body)
	if err := w.SetBoundary("b"); err != nil {
		log.Fatal(err)
	}
	h := http.Header{"Content-Type": {"application/http"}, "Content-Id": {"<1>"}}
	if _, err := w.CreatePart(mixed.HeaderFrom(h)); err != nil {
		log.Fatal(err)
	}
	w.Close()
	fmt.Printf("%q\n", body.String())
	// Output:
	// "--b\r\nContent-Id: <1>\r\nContent-Type: application/http\r\n\r\n\r\n--b--\r\n"
}
