package batch

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mixedcodec/mixed"
)

// A chunked call whose Trailer field declares more names than its trailer
// section could hold (100, the head's field limit) answers 400 without
// reaching the handler: each declared name is an entry of the handler's
// Request.Trailer, some 80 bytes, and a 64 KiB head could declare
// thousands of them, outside every budget of the batch. A call declaring
// 100 names reaches the handler with those names declared, as net/http
// gives them, and the other calls of the batch are answered.
func TestHandlerRefusesTooManyDeclaredTrailers(t *testing.T) {
	names := func(n int) string {
		var b []string
		for i := range n {
			b = append(b, "T"+strconv.Itoa(i))
		}
		return strings.Join(b, ",")
	}
	var mu sync.Mutex
	declared := map[string]int{}
	var served pathLog
	inner := served.handler(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		mu.Lock()
		declared[r.URL.Path] = len(r.Trailer)
		mu.Unlock()
		io.WriteString(w, "ok")
	})
	chunked := func(path string, n int) string {
		return "POST " + path + " HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTrailer: " + names(n) + "\r\n\r\n1\r\na\r\n0\r\nT0: x\r\n\r\n"
	}
	got := readBatchResponse(t, serve(t, inner, HandlerOptions{}, "/", nil, batchBody(
		part("1", chunked("/many", 6000)),
		part("2", chunked("/hundred", 100)),
		part("3", "GET /plain HTTP/1.1\r\n"),
	)))
	if diff := cmp.Diff([]int{400, 200, 200}, statuses(got)); diff != "" {
		t.Fatalf("statuses (-want +got):\n%s", diff)
	}
	if !strings.Contains(got[0].Body, "Trailer declares more than 100 field names") {
		t.Errorf("the 400 says %q; want it to say why", got[0].Body)
	}
	if diff := cmp.Diff([]string{"/hundred", "/plain"}, served.sorted()); diff != "" {
		t.Errorf("calls that reached the handler (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]int{"/hundred": 100, "/plain": 0}, declared); diff != "" {
		t.Errorf("declared trailer names the handler saw (-want +got):\n%s", diff)
	}
}

// The head of a call is read with the MessageOptions defaults: a request
// line over 8 KiB, a head over 64 KiB or 100 fields answers 400 naming
// the limit, and the handler never sees the call; the calls around it are
// answered (README's limits table).
func TestHandlerRequestHeadLimits(t *testing.T) {
	fields := func(n, size int) string {
		var b strings.Builder
		for i := range n {
			b.WriteString("X-F" + strconv.Itoa(i) + ": " + strings.Repeat("v", size) + "\r\n")
		}
		return b.String()
	}
	var served pathLog
	got := readBatchResponse(t, serve(t, served.handler(nil), HandlerOptions{}, "/", nil, batchBody(
		part("1", "GET /line?"+strings.Repeat("q", 8<<10)+" HTTP/1.1\r\n"),
		part("2", "GET /fields HTTP/1.1\r\n"+fields(101, 1)),
		part("3", "GET /bytes HTTP/1.1\r\n"+fields(20, 4<<10)),
		part("4", "GET /within HTTP/1.1\r\n"+fields(100, 600)),
	)))
	type answer struct {
		Status int
		Says   string
	}
	var answers []answer
	for _, p := range got {
		says := ""
		for _, e := range []error{mixed.ErrStartLineTooLong, mixed.ErrTooManyFields, mixed.ErrHeaderTooLarge} {
			if strings.Contains(p.Body, e.Error()) {
				says = e.Error()
			}
		}
		answers = append(answers, answer{p.Status, says})
	}
	want := []answer{
		{400, mixed.ErrStartLineTooLong.Error()},
		{400, mixed.ErrTooManyFields.Error()},
		{400, mixed.ErrHeaderTooLarge.Error()},
		{200, ""},
	}
	if diff := cmp.Diff(want, answers); diff != "" {
		t.Errorf("answers (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"/within"}, served.sorted()); diff != "" {
		t.Errorf("calls that reached the handler (-want +got):\n%s", diff)
	}
}
