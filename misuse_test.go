package mixed_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/mixedcodec/mixed"
)

// A zero value used without its constructor or Reset is an error, never a
// panic.
func TestZeroValuesFailLoudly(t *testing.T) {
	var r mixed.Reader
	if _, err := r.NextPart(); err == nil || err == io.EOF {
		t.Errorf("zero Reader: NextPart returned %v, want a misuse error", err)
	}
	var br mixed.BytesReader
	if _, err := br.NextPart(); err == nil || err == io.EOF {
		t.Errorf("zero BytesReader: NextPart returned %v, want a misuse error", err)
	}

	var m mixed.MessageReader
	if _, err := m.ReadRequest(); err == nil || err == io.EOF {
		t.Errorf("zero MessageReader: ReadRequest returned %v, want a misuse error", err)
	}
	if _, err := m.ReadResponse(""); err == nil || err == io.EOF {
		t.Errorf("zero MessageReader: ReadResponse returned %v, want a misuse error", err)
	}
	if _, err := m.ReadFinalResponse(""); err == nil || err == io.EOF {
		t.Errorf("zero MessageReader: ReadFinalResponse returned %v, want a misuse error", err)
	}
	m.Reset(nil)
	if _, err := m.ReadRequest(); err == nil || err == io.EOF {
		t.Errorf("MessageReader Reset(nil): ReadRequest returned %v, want a misuse error", err)
	}
	m.Reset(strings.NewReader("HTTP/1.1 204 No Content\r\n\r\n"))
	if res, err := m.ReadResponse(""); err != nil || res.StatusCode != 204 {
		t.Errorf("zero MessageReader after Reset: %v, %v", res, err)
	}

	var w mixed.Writer
	if _, err := w.CreatePart(nil); err == nil {
		t.Errorf("zero Writer: CreatePart succeeded")
	}
	if err := w.Close(); err == nil {
		t.Errorf("zero Writer: Close succeeded")
	}
	var out bytes.Buffer
	w.Reset(&out)
	if err := w.SetBoundary("b"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.CreatePart(nil); err != nil {
		t.Errorf("zero Writer after Reset: CreatePart: %v", err)
	}
	if err := w.Close(); err != nil || out.String() != "--b\r\n\r\n\r\n--b--\r\n" {
		t.Errorf("zero Writer after Reset: %q, %v", out.String(), err)
	}
}

// A Reader on a Part whose Reader has moved on fails once it has used up
// what it read of that part, rather than read the next part's bytes.
func TestNestedReaderAfterOuterMovedOn(t *testing.T) {
	long := strings.Repeat("n", 4*mixed.DefaultBufferSize)
	outer := "--o\r\nContent-Type: multipart/mixed; boundary=i\r\n\r\n" +
		"--i\r\n\r\n" + long + "\r\n--i--" +
		"\r\n--o\r\n\r\n--i\r\n\r\nNEXT\r\n--i--" +
		"\r\n--o--\r\n"
	o := mixed.NewReader(strings.NewReader(outer), "o")
	p, err := o.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	in := mixed.NewReader(p, "i")
	q, err := in.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.NextPart(); err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	_, err = io.Copy(&got, q)
	for err == nil {
		_, err = in.NextPart()
	}
	if err == io.EOF || strings.Contains(got.String(), "NEXT") || got.Len() >= len(long) {
		t.Errorf("nested reader after the outer moved on: read %d bytes (NEXT among them: %v), then %v; want fewer than %d, no NEXT and an error",
			got.Len(), strings.Contains(got.String(), "NEXT"), err, len(long))
	}
}

func TestNilSourceFailsLoudly(t *testing.T) {
	if _, err := mixed.NewReader(nil, "b").NextPart(); err == nil || err == io.EOF {
		t.Errorf("NewReader(nil): NextPart returned %v, want a misuse error", err)
	}
	for cr, err := range mixed.ReadResponses(nil, "b") {
		if cr != nil || err == nil || err == io.EOF {
			t.Errorf("ReadResponses(nil) yielded %v, %v; want a misuse error", cr, err)
		}
	}
}

// stalePartWire has a first part whose embedded body is larger than a
// Reader's buffer, and a second part whose body must never be read as the
// first's.
var stalePartWire = "--b\r\nContent-Type: application/http\r\n\r\n" +
	"HTTP/1.1 200 OK\r\n\r\n" + strings.Repeat("a", 3*mixed.DefaultBufferSize) +
	"\r\n--b\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nNEXT" +
	"\r\n--b--\r\n"

// nextPartReader is a Reader or a BytesReader.
type nextPartReader interface{ NextPart() (*mixed.Part, error) }

// A body read after its part's Reader has moved on fails with an error
// wrapping http.ErrBodyReadAfterClose, however it is read, and never gives
// the next part's bytes.
func TestMessageBodyAfterNextPart(t *testing.T) {
	readers := map[string]func() nextPartReader{
		"Reader":      func() nextPartReader { return mixed.NewReader(strings.NewReader(stalePartWire), "b") },
		"BytesReader": func() nextPartReader { return mixed.NewBytesReader([]byte(stalePartWire), "b") },
	}
	reads := map[string]func(*mixed.Response) ([]byte, error){
		"MessageBody.Read": func(r *mixed.Response) ([]byte, error) { return io.ReadAll(struct{ io.Reader }{r.Body}) },
		"MessageBody.ReadChunk": func(r *mixed.Response) ([]byte, error) {
			var all []byte
			for {
				c, err := r.Body.ReadChunk()
				all = append(all, c...)
				if err != nil {
					return all, err
				}
			}
		},
		"MessageBody.WriteTo": func(r *mixed.Response) ([]byte, error) {
			var b bytes.Buffer
			_, err := r.Body.WriteTo(&b)
			return b.Bytes(), err
		},
		"Response.HTTPResponse": func(r *mixed.Response) ([]byte, error) { return io.ReadAll(r.HTTPResponse(nil).Body) },
	}
	for rname, newReader := range readers {
		for how, read := range reads {
			t.Run(rname+"/"+how, func(t *testing.T) {
				r := newReader()
				p, err := r.NextPart()
				if err != nil {
					t.Fatal(err)
				}
				m := mixed.NewMessageReader(p)
				msg, err := m.ReadResponse("")
				if err != nil {
					t.Fatal(err)
				}
				var first [10]byte
				if n, err := msg.Body.Read(first[:]); n == 0 || err != nil {
					t.Fatalf("first read: %d, %v", n, err)
				}
				var body io.ReadCloser
				if how == "Response.HTTPResponse" {
					body = msg.HTTPResponse(nil).Body // made before NextPart
				}
				if _, err := r.NextPart(); err != nil {
					t.Fatal(err)
				}
				var late []byte
				if body != nil {
					late, err = io.ReadAll(body)
				} else {
					late, err = read(msg)
				}
				if !errors.Is(err, http.ErrBodyReadAfterClose) || bytes.Contains(late, []byte("NEXT")) {
					t.Errorf("read after NextPart: %d bytes (NEXT among them: %v), %v; want an error wrapping http.ErrBodyReadAfterClose",
						len(late), bytes.Contains(late, []byte("NEXT")), err)
				}
			})
		}
	}
}

// A MessageReader Reset on a part its Reader has left reads nothing of
// the next part.
func TestMessageReaderOnLeftPart(t *testing.T) {
	r := mixed.NewReader(strings.NewReader(stalePartWire), "b")
	p, err := r.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.NextPart(); err != nil {
		t.Fatal(err)
	}
	// p is the second part now: the same *Part, reused. Reset on it reads
	// the second part, as documented; a MessageReader Reset before
	// NextPart fails.
	var m mixed.MessageReader
	m.Reset(p)
	if msg, err := m.ReadResponse(""); err != nil || msg.ContentLength != 4 {
		t.Fatalf("Reset on the reused Part after NextPart: %v, %v; want the second part's response", msg, err)
	}

	r = mixed.NewReader(strings.NewReader(stalePartWire), "b")
	p, _ = r.NextPart()
	m.Reset(p)
	r.NextPart()
	if _, err := m.ReadResponse(""); !errors.Is(err, http.ErrBodyReadAfterClose) {
		t.Errorf("ReadResponse after NextPart: %v, want an error wrapping http.ErrBodyReadAfterClose", err)
	}
}

// A request body handed to a handler fails after NextPart too.
func TestHTTPRequestBodyAfterNextPart(t *testing.T) {
	wire := strings.Replace(stalePartWire, "HTTP/1.1 200 OK\r\n\r\n", "POST /x HTTP/1.1\r\n\r\n", 1)
	r := mixed.NewReader(strings.NewReader(wire), "b")
	p, err := r.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	m := mixed.NewMessageReader(p)
	msg, err := m.ReadRequest()
	if err != nil {
		t.Fatal(err)
	}
	req, err := msg.HTTPRequest(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.NextPart(); err != nil {
		t.Fatal(err)
	}
	late, err := io.ReadAll(req.Body)
	if !errors.Is(err, http.ErrBodyReadAfterClose) || bytes.Contains(late, []byte("NEXT")) {
		t.Errorf("request body after NextPart: %d bytes, %v; want an error wrapping http.ErrBodyReadAfterClose", len(late), err)
	}
}
