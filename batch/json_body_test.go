package batch

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// typedJSONBatchOf is a JSON batch of n requests, each with a JSON body and
// headers ct (the members of a headers object, "Content-Type" among them).
func typedJSONBatchOf(n int, ct string) []byte {
	var sb strings.Builder
	sb.WriteString(`{"requests":[`)
	for i := range n {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"id":"%d","method":"POST","url":"/calendar/v3/calendars/primary/events","headers":{%s},"body":{"summary":"event %d"}}`, i, ct, i)
	}
	sb.WriteString("]}")
	return []byte(sb.String())
}

// twoKeys answers as trivial does, with its Content-Type set under two
// keys that differ in case, as a handler that sets a lower-case key
// through the map leaves it.
var twoKeys = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header()["Content-Type"] = jsonCT
	w.Header()["content-type"] = jsonCT
	w.Write(smallJSON)
})

// BenchmarkHandlerJSONBodies measures the Handler on 1000 requests that
// carry a Content-Type and a JSON body (BenchmarkHandlerFormats' have
// neither), answered by trivial, or by twoKeys, whose response has its
// Content-Type under two keys.
func BenchmarkHandlerJSONBodies(b *testing.B) {
	const n = 1000
	for _, bc := range []struct {
		name  string
		inner http.Handler
		f     Format
	}{
		{"format=graph-json/inner=trivial", trivial, FormatGraphJSON},
		{"format=odata-json/inner=trivial", trivial, FormatODataJSON},
		{"format=odata-json/inner=two-keys", twoKeys, FormatODataJSON},
	} {
		b.Run(bc.name, func(b *testing.B) {
			body := typedJSONBatchOf(n, `"Content-Type":"application/json","Accept":"application/json"`)
			h := NewHandlerOptions(bc.inner, HandlerOptions{MaxCalls: n, JSONFormat: bc.f})
			var br bytes.Reader
			req := httptest.NewRequest("POST", "/batch", &br)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Prefer", "odata.continue-on-error")
			w := &discardWriter{h: make(http.Header)}
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				br.Reset(body)
				clear(w.h)
				h.ServeHTTP(w, req)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/call")
		})
	}
}
