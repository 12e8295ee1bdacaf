package batch

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// A batch is multipart/mixed, as the Handler documents, never another
// multipart type: multipart/form-data is one a browser sends cross-site
// without a CORS preflight (a form's enctype, or fetch in no-cors mode
// with a body of the page's choosing), with the user's cookies, which
// every call inherits. A page on any site could then make the user's
// browser send, through the batch endpoint, calls no cross-site request
// can make (DELETE, PUT, a JSON body, X-Requested-With and other custom
// fields, which APIs take as proof of a same-origin caller), with the
// user's credentials. The calls ran; the batch is refused now, before
// any call runs, as any body that is not multipart/mixed is.
func TestHandlerRefusesOtherMultipartTypes(t *testing.T) {
	var calls atomic.Int32
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusNoContent)
	})
	srv := httptest.NewServer(NewHandler(inner))
	defer srv.Close()
	body := batchBody(part("1", "DELETE /account HTTP/1.1\r\nX-Requested-With: XMLHttpRequest\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"))
	post := func(ct string) int {
		req, _ := http.NewRequest("POST", srv.URL, strings.NewReader(body))
		req.Header.Set("Content-Type", ct)
		req.Header.Set("Cookie", "session=victim")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, ct := range []string{
		"multipart/form-data; boundary=b",
		"Multipart/Form-Data; boundary=b",
		"multipart/related; boundary=b",
		"multipart/alternative; boundary=b",
		"multipart/mixed-up; boundary=b",
	} {
		if code := post(ct); code != http.StatusBadRequest {
			t.Errorf("Content-Type %q: status %d, want 400", ct, code)
		}
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("%d calls ran; want none", n)
	}
	// multipart/mixed, in any case and with its parameters, is a batch.
	for _, ct := range []string{"multipart/mixed; boundary=b", "Multipart/MIXED;boundary=\"b\"", " multipart/mixed ; boundary=b"} {
		if code := post(ct); code != http.StatusOK {
			t.Errorf("Content-Type %q: status %d, want 200", ct, code)
		}
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("%d calls ran for the 3 multipart/mixed batches; want 3", n)
	}
}
