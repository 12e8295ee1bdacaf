package batch

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// An upstream that compresses whatever it is asked for: the Client decodes
// a gzip part for a call that did not ask for gzip, as net/http's transport
// does, and leaves it alone for a call that asked; the Transport too.
func TestClientDecodesUnrequestedGzip(t *testing.T) {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(gzipOf([]byte(`{"path":"` + r.URL.Path + `"}`)))
	})
	srv, _ := countingServer(t, inner, HandlerOptions{})
	c := &Client{Endpoint: srv.URL + "/batch", HTTPClient: srv.Client()}
	b := c.NewBatch()
	plain, _ := http.NewRequest("GET", "/plain", nil)
	asked, _ := http.NewRequest("GET", "/asked", nil)
	asked.Header.Set("Accept-Encoding", "gzip")
	cp, _ := b.Add(plain, "plain")
	ca, _ := b.Add(asked, "asked")
	if err := b.Do(context.Background()); err != nil {
		t.Fatal(err)
	}
	type got struct {
		Body         string
		Encoding     string
		Uncompressed bool
	}
	read := func(c *Call) got {
		resp, err := c.Wait(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			body, _ = io.ReadAll(zr)
		}
		return got{string(body), resp.Header.Get("Content-Encoding"), resp.Uncompressed}
	}
	want := []got{{`{"path":"/plain"}`, "", true}, {`{"path":"/asked"}`, "gzip", false}}
	if diff := cmp.Diff(want, []got{read(cp), read(ca)}); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}

	hc := &http.Client{Transport: &Transport{Endpoint: srv.URL + "/batch", Base: srv.Client().Transport}}
	resp, err := hc.Get(srv.URL + "/via-transport")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != `{"path":"/via-transport"}` || resp.Header.Get("Content-Encoding") != "" {
		t.Errorf("through the Transport: %q, Content-Encoding %q; want the decoded body", body, resp.Header.Get("Content-Encoding"))
	}
}
