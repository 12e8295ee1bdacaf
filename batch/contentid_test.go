package batch

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The server's echo and the client's match are each other's inverse, for
// ids with and without angle brackets, and OData's unchanged echo matches
// too.
func TestContentIDRoundTrip(t *testing.T) {
	for _, cid := range []string{"1", "<item1:12930812@barnyard.example.com>", "<b29c5de2-0db4-490b-b421-6a51b598bd22+2>", "pony", "response-x", " 7 "} {
		id := requestID([]byte(cid))
		echo := appendResponseID(nil, []byte(cid))
		if got := callID(echo); got != id {
			t.Errorf("Content-ID %q: echoed as %q, matched to %q, want %q", cid, echo, got, id)
		}
		if got := callID([]byte(cid)); got != id && cid != "response-x" {
			t.Errorf("Content-ID %q echoed unchanged (OData): matched to %q, want %q", cid, got, id)
		}
	}
	if got, want := string(appendResponseID(nil, []byte("<a+b>"))), "<response-a+b>"; got != want {
		t.Errorf("echo of <a+b>: %q, want %q", got, want)
	}
}

func TestHandlerContentIDEcho(t *testing.T) {
	body := batchBody(
		part("1", "GET /a HTTP/1.1\r\n"),
		part("<uuid + 7>", "GET /a HTTP/1.1\r\n"),
		part("<item1:12930812@barnyard.example.com>", "GET /a HTTP/1.1\r\n"),
		part("", "GET /a HTTP/1.1\r\n"),
	)
	got := readBatchResponse(t, serve(t, describe, HandlerOptions{}, "/batch", nil, body))
	var ids []string
	for _, p := range got {
		ids = append(ids, p.ContentID)
	}
	want := []string{"response-1", "<response-uuid + 7>", "<response-item1:12930812@barnyard.example.com>", ""}
	if diff := cmp.Diff(want, ids); diff != "" {
		t.Errorf("response Content-IDs (-want +got):\n%s", diff)
	}
}
