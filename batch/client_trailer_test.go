package batch

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/mixedcodec/mixed"
)

// singlePartAnswer sends one call, method /x, to a server whose batch
// response is a single part (no Content-ID: matched by position)
// carrying msg, and returns the call's answer and its body.
func singlePartAnswer(t *testing.T, method, msg string) (*http.Response, string, error) {
	t.Helper()
	srv := rawBatchServer(t, func(w http.ResponseWriter, ids []string) {
		startResponse(w)
		io.WriteString(w, "--"+attackBoundary+"\r\nContent-Type: application/http\r\n\r\n"+msg+"\r\n--"+attackBoundary+"--\r\n")
	})
	b := (&Client{Endpoint: srv.URL + "/batch", HTTPClient: srv.Client()}).NewBatch()
	req, _ := http.NewRequest(method, srv.URL+"/x", nil)
	call, err := b.Add(req, "1")
	if err != nil {
		t.Fatal(err)
	}
	b.Do(context.Background())
	resp, err := call.Wait(context.Background())
	if err != nil {
		return nil, "", err
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body), nil
}

// answerOf is what the trailer tests compare of a call's answer. Header
// leaves out the framing fields net/http moves out of its Header
// (Transfer-Encoding) or dedupes (Content-Length), which a call's
// answer keeps as the part has them, as Response.HTTPResponse does (the
// root package's "Differences from net/http").
type answerOf struct {
	StatusCode       int
	Header, Trailer  http.Header
	TransferEncoding []string
	Body             string
}

func answerFields(resp *http.Response, body string) answerOf {
	h := resp.Header.Clone()
	delete(h, "Transfer-Encoding")
	delete(h, "Content-Length")
	return answerOf{resp.StatusCode, h, resp.Trailer, resp.TransferEncoding, body}
}

// A call's answer has the Header, Trailer and TransferEncoding that
// net/http's client gives for the same response: the Trailer field of a
// chunked response (one whose Transfer-Encoding field is chunked, even
// without a body: a HEAD's, a 204, a 304) is out of Header, its names
// declared in Trailer with nil values, then the trailer fields sent, the
// undeclared ones too; a Trailer field without chunking stays in Header.
func TestClientResponseTrailerMatchesNetHTTP(t *testing.T) {
	chunked := "Transfer-Encoding: chunked\r\n"
	for _, tc := range []struct {
		name, method, msg string
	}{
		{"declared and sent", "GET", "HTTP/1.1 200 OK\r\nTrailer: x-a, X-B\r\n" + chunked + "\r\n3\r\nabc\r\n0\r\nX-A: 1\r\nx-b: 2\r\nx-b: 3\r\n\r\n"},
		{"declared, not sent", "GET", "HTTP/1.1 200 OK\r\nTrailer: x-a\r\nTrailer: , X-B ,x-a\r\n" + chunked + "\r\n3\r\nabc\r\n0\r\n\r\n"},
		{"sent, not declared", "GET", "HTTP/1.1 200 OK\r\n" + chunked + "\r\n3\r\nabc\r\n0\r\nx-c: 3\r\n\r\n"},
		{"some declared, others sent", "GET", "HTTP/1.1 201 Created\r\nX-A: head\r\nTrailer: X-A, X-D\r\n" + chunked + "\r\n1\r\na\r\n0\r\nX-A: 1\r\nX-C: 3\r\n\r\n"},
		{"declares nothing", "GET", "HTTP/1.1 200 OK\r\nTrailer:\r\n" + chunked + "\r\n1\r\na\r\n0\r\n\r\n"},
		{"not a token", "GET", "HTTP/1.1 200 OK\r\nTrailer: x\ta, b@c\r\n" + chunked + "\r\n1\r\na\r\n0\r\n\r\n"},
		{"HEAD", "HEAD", "HTTP/1.1 200 OK\r\nTrailer: X-A\r\n" + chunked + "\r\n"},
		{"204", "GET", "HTTP/1.1 204 No Content\r\nTrailer: x-a\r\n" + chunked + "\r\n"},
		{"304", "GET", "HTTP/1.1 304 Not Modified\r\nTrailer: x-a\r\nTransfer-Encoding: CHUNKED\r\n\r\n"},
		{"not chunked", "GET", "HTTP/1.1 200 OK\r\nTrailer: X-A\r\nContent-Length: 3\r\n\r\nabc"},
		{"not chunked, HEAD", "HEAD", "HTTP/1.1 200 OK\r\nTrailer: X-A\r\nContent-Length: 3\r\n\r\n"},
		{"HTTP/1.0", "GET", "HTTP/1.0 200 OK\r\nTrailer: X-A\r\n\r\nabc"},
		{"no trailer", "GET", "HTTP/1.1 200 OK\r\nX-A: 1\r\nContent-Length: 3\r\n\r\nabc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, "/x", nil)
			std, err := http.ReadResponse(bufio.NewReader(strings.NewReader(tc.msg)), req)
			if err != nil {
				t.Fatalf("net/http refuses %q: %v", tc.msg, err)
			}
			stdBody, err := io.ReadAll(std.Body)
			if err != nil {
				t.Fatalf("net/http: %q: %v", tc.msg, err)
			}
			want := answerFields(std, string(stdBody))
			resp, body, err := singlePartAnswer(t, tc.method, tc.msg)
			if err != nil {
				t.Fatalf("%q: %v", tc.msg, err)
			}
			if diff := cmp.Diff(want, answerFields(resp, body), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("%q: net/http (-) and the Client (+) disagree:\n%s", tc.msg, diff)
			}
			// EquateEmpty aside: a declared name has a nil value, a
			// Trailer with nothing is nil, as net/http has them.
			for k, v := range std.Trailer {
				if (v == nil) != (resp.Trailer[k] == nil) {
					t.Errorf("Trailer[%q] = %#v, net/http has %#v", k, resp.Trailer[k], v)
				}
			}
			if (std.Trailer == nil) != (resp.Trailer == nil) {
				t.Errorf("Trailer = %#v, net/http has %#v", resp.Trailer, std.Trailer)
			}
		})
	}
}

// A chunked response whose Trailer field declares more names than a head
// may have fields (100) is the call's error, mixed.ErrTooManyFields, as
// the codec's MessageReader refuses it: each name would be an entry of
// the answer's Trailer, some 80 bytes, outside MaxResponseBytes. 100
// names are declared.
func TestClientRefusesTooManyDeclaredTrailers(t *testing.T) {
	names := func(n int) string {
		var b []string
		for i := range n {
			b = append(b, "T"+strconv.Itoa(i))
		}
		return strings.Join(b, ", ")
	}
	msg := func(n int) string {
		return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: " + names(n) + "\r\n\r\n1\r\na\r\n0\r\nT0: x\r\n\r\n"
	}
	if _, _, err := singlePartAnswer(t, "GET", msg(101)); !errors.Is(err, mixed.ErrTooManyFields) {
		t.Errorf("101 declared names: error %v, want mixed.ErrTooManyFields", err)
	}
	resp, body, err := singlePartAnswer(t, "GET", msg(100))
	if err != nil {
		t.Fatalf("100 declared names: %v", err)
	}
	if len(resp.Trailer) != 100 || resp.Trailer.Get("T0") != "x" || body != "a" {
		t.Errorf("100 declared names: Trailer of %d names (T0 %q), body %q; want 100, \"x\", \"a\"", len(resp.Trailer), resp.Trailer.Get("T0"), body)
	}
}
