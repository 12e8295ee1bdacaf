package batch

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/mixedcodec/mixed"
	"pgregory.net/rapid"
)

// A call's answer, as the client builds it, is what
// mixed.Response.HTTPResponse gives for the same part with its body read
// to its end: status, protocol, header (names canonicalized, the Trailer
// field of a chunked response out of it), length, transfer coding,
// trailer (its declared names, then the fields sent) and body.
func TestClientResponseMatchesHTTPResponse(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		code := rapid.SampledFrom([]int{200, 201, 204, 299, 304, 404, 418, 500, 599, 600, 799, 999}).Draw(t, "code")
		reason := rapid.SampledFrom([]string{"", http.StatusText(code), "Fine", "Not What You Think", "OK"}).Draw(t, "reason")
		proto := rapid.SampledFrom([]string{"HTTP/1.1", "HTTP/1.0"}).Draw(t, "proto")
		var head strings.Builder
		if rapid.Bool().Draw(t, "interim") {
			head.WriteString("HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\n")
		}
		fmt.Fprintf(&head, "%s %d", proto, code)
		if reason != "" || rapid.Bool().Draw(t, "space") {
			head.WriteString(" " + reason)
		}
		head.WriteString("\r\n")
		names := rapid.SliceOfN(rapid.OneOf(
			rapid.SampledFrom([]string{"content-type", "Content-Type", "CONTENT-TYPE", "x-a", "X-A", "etag", "Set-Cookie", "set-cookie", "host", "www-authenticate", "X_Under", "X-y-Z", "trailer", "Trailer"}),
			rapid.StringMatching("[!#$%&'*+.^_`|~0-9A-Za-z-]{1,12}"),
		), 0, 12).Draw(t, "names") // past smallHead too
		for i, name := range names {
			if strings.EqualFold(name, "Content-Length") || strings.EqualFold(name, "Transfer-Encoding") || strings.EqualFold(name, "Content-Encoding") {
				continue
			}
			value := rapid.StringMatching("[ -~]{0,16}").Draw(t, fmt.Sprintf("value %d", i))
			fmt.Fprintf(&head, "%s: %s\r\n", name, strings.Trim(value, " "))
		}
		body := rapid.StringMatching("[\\x00-\\xff]{0,64}").Draw(t, "body")
		chunked := rapid.Bool().Draw(t, "chunked")
		bodyAllowed := code != 204 && code != 304
		switch {
		case !bodyAllowed:
			head.WriteString("\r\n")
		case chunked:
			head.WriteString("Transfer-Encoding: chunked\r\n\r\n")
			if body != "" {
				fmt.Fprintf(&head, "%x\r\n%s\r\n", len(body), body)
			}
			head.WriteString("0\r\n")
			if rapid.Bool().Draw(t, "trailer") {
				head.WriteString("x-checksum: abc\r\nX-Checksum: def\r\n")
			}
			head.WriteString("\r\n")
		default:
			fmt.Fprintf(&head, "Content-Length: %d\r\n\r\n%s", len(body), body)
		}
		wire := head.String()
		req, _ := http.NewRequest(rapid.SampledFrom([]string{"GET", "HEAD"}).Draw(t, "method"), "/x", nil)

		var mr mixed.MessageReader
		mr.Reset(strings.NewReader(wire))
		m, err := mr.ReadFinalResponse(req.Method)
		if err != nil {
			t.Skipf("the reader refuses the part: %v", err)
		}
		want := m.HTTPResponse(req)
		wantBody, err := io.ReadAll(want.Body)
		if err != nil {
			t.Fatal(err)
		}
		if req.Method != http.MethodHead {
			// A body read whole has its length; an answer to HEAD
			// has the length announced, as HTTPResponse gives it.
			want.ContentLength = int64(len(wantBody))
		}

		var rr respReader
		rr.scratch = []byte("left over from the last part")
		got, gotBody, err := rr.response(strings.NewReader(wire), req, 1<<20)
		if err != nil {
			t.Fatalf("%q: %v", wire, err)
		}
		again, _ := io.ReadAll(got.Body)
		if diff := cmp.Diff(string(wantBody), string(again)); diff != "" || string(gotBody) != string(again) {
			t.Errorf("%q: body (-want +got):\n%s", wire, diff)
		}
		if got.Request != req {
			t.Errorf("Request is not the call's")
		}
		opts := cmp.Options{cmpopts.IgnoreFields(http.Response{}, "Body", "Request"), cmpopts.EquateEmpty()}
		if diff := cmp.Diff(want, got, opts); diff != "" {
			t.Errorf("%q: response (-want +got):\n%s", wire, diff)
		}
	})
}

// canonicalKey canonicalizes in place what http.CanonicalHeaderKey
// returns, whatever the bytes.
func TestCanonicalKeyMatchesNetHTTP(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		name := rapid.OneOf(
			rapid.StringMatching("[a-zA-Z-]{0,12}"),
			rapid.StringMatching("[!#$%&'*+.^_`|~0-9A-Za-z-]{0,12}"),
			rapid.String(),
		).Draw(t, "name")
		b := []byte(name)
		canonicalKey(b, []byte(name))
		if want := http.CanonicalHeaderKey(name); string(b) != want {
			t.Fatalf("canonicalKey(%q) = %q, want %q", name, b, want)
		}
	})
}

// The parts of one response share the reader's scratch memory, never
// what each answer holds: a call's header and body stay its own while
// the next parts are read.
func TestClientResponsesOwnTheirMemory(t *testing.T) {
	var rr respReader
	var resps []*http.Response
	for i := range 50 {
		wire := fmt.Sprintf("HTTP/1.1 200 OK\r\ncontent-type: text/x-%d\r\nX-N: %d\r\nContent-Length: %d\r\n\r\nbody %d", i, i, len(fmt.Sprintf("body %d", i)), i)
		resp, _, err := rr.response(strings.NewReader(wire), nil, 1<<10)
		if err != nil {
			t.Fatal(err)
		}
		resps = append(resps, resp)
	}
	for i, resp := range resps {
		b, _ := io.ReadAll(resp.Body)
		got := []string{resp.Header.Get("Content-Type"), resp.Header.Get("X-N"), string(b)}
		want := []string{fmt.Sprintf("text/x-%d", i), fmt.Sprint(i), fmt.Sprintf("body %d", i)}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("response %d (-want +got):\n%s", i, diff)
		}
	}
}

// A call's answer allocates a fixed few times, whatever its head holds
// (within the value lists it has room for).
func TestClientResponseAllocations(t *testing.T) {
	wire := "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nETag: \"x\"\r\nContent-Length: 12\r\n\r\n{\"id\":\"abc\"}"
	var rr respReader
	var src strings.Reader
	allocs := testing.AllocsPerRun(100, func() {
		src.Reset(wire)
		if _, _, err := rr.response(&src, nil, 1<<10); err != nil {
			t.Fatal(err)
		}
	})
	// The answer, its head's string, its Header map (two: the map and
	// its group of slots) and its body.
	if allocs > 5 {
		t.Errorf("%.0f allocations for an answer, want at most 5", allocs)
	}
}
