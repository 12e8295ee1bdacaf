package caddybatch

import (
	"bytes"
	"io"
	"net/http"
	"testing"
)

// A batch posted as multipart/form-data, which a browser sends cross-site
// with the user's cookies and no CORS preflight, runs no call: through the
// server, its calls would have reached reverse_proxy with any method and
// fields, and the user's Cookie, which every call inherits.
func TestCrossSiteBatchRefused(t *testing.T) {
	up := newUpstream(t, "a")
	base, _ := startCaddy(t, batchRoute(nil), route(proxyTo(up.dial())))
	body, _ := batchBody([]call{{ID: "1", Method: "DELETE", Target: "/items/1", Header: "X-Requested-With: XMLHttpRequest\r\n"}})
	req, _ := http.NewRequest("POST", base+"/batch", bytes.NewReader(body))
	req.Header.Set("Content-Type", "multipart/form-data; boundary=bound")
	req.Header.Set("Cookie", "session=victim")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if n := up.count(); resp.StatusCode != http.StatusBadRequest || n != 0 {
		t.Errorf("status %d, %d requests upstream; want 400 and none", resp.StatusCode, n)
	}
}
