package batch

import (
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"pgregory.net/rapid"

	"github.com/mixedcodec/mixed/internal/bodyform"
)

// TestProbedHeadsAsRanged: measure and fieldsOf find the fields of a small
// head by looking up Content-Type and Content-Length (probeHead) rather
// than ranging over the map; what they make of any head, of those names
// or others, a Content-Type set to nil or sniffed, must be what ranging
// over it makes: measureRanged and fieldsRanged, the code before the
// lookups.
func TestProbedHeadsAsRanged(t *testing.T) {
	names := []string{"Content-Type", "Content-Length", "content-type", "Transfer-Encoding", "Trailer", "Cache-Control", "X-A", "Host"}
	values := []string{"", "a", " a\t", "a\t", " b", "text/html", "\t", "12"}
	// Two of these take a head over mixed.DefaultMaxHeaderBytes, where
	// measureHead counts the values trimmed.
	big := []string{strings.Repeat("v", 33<<10), " " + strings.Repeat("w", 33<<10) + " "}
	rapid.Check(t, func(t *rapid.T) {
		h := http.Header{}
		for _, k := range rapid.SliceOfNDistinct(rapid.SampledFrom(names), 0, 4, rapid.ID).Draw(t, "names") {
			if rapid.Bool().Draw(t, k+" nil") {
				h[k] = nil
				continue
			}
			h[k] = rapid.SliceOfN(rapid.SampledFrom(values), 0, 3).Draw(t, k)
		}
		if rapid.Bool().Draw(t, "big") {
			k := rapid.SampledFrom(names).Draw(t, "big name")
			h[k] = append(h[k], big...)
		}
		rw := &response{h: h}
		rw.sniffed = rapid.SampledFrom([]string{"", "text/plain; charset=utf-8"}).Draw(t, "sniffed")
		rw.body.WriteString(rapid.SampledFrom([]string{"", "<html>", "{}"}).Draw(t, "body"))
		if diff := cmp.Diff(measureRanged(rw), rw.measure(), cmp.AllowUnexported(headMeasure{})); diff != "" {
			t.Fatalf("measure(%s) (-want +got):\n%s", clippedQ(h), diff)
		}
		if diff := cmp.Diff(measureRanged(&response{h: h}), measureHead(h), cmp.AllowUnexported(headMeasure{})); diff != "" {
			t.Fatalf("measureHead(%s) (-want +got):\n%s", clippedQ(h), diff)
		}
		// The JSON writer's looks at the head.
		wantCT, wantHas := mediaTypeRanged(h)
		if ct, has := mediaTypeOf(h); ct != wantCT || has != wantHas {
			t.Fatalf("mediaTypeOf(%s) = %q, %v; ranged: %q, %v", clippedQ(h), ct, has, wantCT, wantHas)
		}
		for _, noHost := range []bool{false, true} {
			want, got := rangedJSONFieldKeys(nil, h, noHost), jsonFieldKeys(nil, h, noHost)
			if diff := cmp.Diff(want, got, cmpopts.SortSlices(func(a, b string) bool { return a < b }), cmpopts.EquateEmpty()); diff != "" {
				t.Fatalf("jsonFieldKeys(%s, noHost %v) (-want +got):\n%s", clippedQ(h), noHost, diff)
			}
		}
		var o output
		for _, withLength := range []bool{false, true} {
			o.fieldsOf(rw, withLength)
			var got [][2]string
			for i := range o.respHeader.Len() {
				k, v := o.respHeader.Field(i)
				got = append(got, [2]string{string(k), string(v)})
			}
			if diff := cmp.Diff(fieldsRanged(rw, withLength), got); diff != "" {
				t.Fatalf("fieldsOf(%s, sniffed %q, withLength %v) (-want +got):\n%s", clippedQ(h), rw.sniffed, withLength, clippedQ(diff))
			}
		}
	})
}

// clippedQ is v quoted, cut to 300 bytes: the values of a big head run to
// 33 KiB.
func clippedQ(v any) string {
	s := fmt.Sprintf("%q", v)
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// measureRanged is rw.measure as it was before probeHead: one range over
// the map, and a lookup of Content-Type.
func measureRanged(rw *response) headMeasure {
	m := headMeasure{wire: 2}
	if len(rw.h) > 0 {
		m.mem = headMapMem
		for k, vv := range rw.h {
			m.mem += headKeyMem + stringMem(len(k))
			written := k != "Transfer-Encoding" && k != "Trailer" && k != "Content-Length"
			for _, v := range vv {
				m.mem += headValueMem + stringMem(len(v))
				if written {
					m.fields++
					m.wire += len(k) + len(v) + 4
				}
			}
		}
		if m.wire > 64<<10 {
			m.wire = 2
			for k, vv := range rw.h {
				if k != "Transfer-Encoding" && k != "Trailer" && k != "Content-Length" {
					for _, v := range vv {
						m.wire += len(k) + len(strings.Trim(v, " \t")) + 4
					}
				}
			}
		}
	}
	if _, set := rw.h["Content-Type"]; !set && rw.sniffed != "" {
		if len(rw.h) == 0 {
			m.mem += headMapMem
		}
		m.mem += headKeyMem + stringMem(len("Content-Type")) + headValueMem + stringMem(maxSniffed)
		m.fields++
		m.wire += len("Content-Type") + maxSniffed + 4
	}
	return m
}

// fieldsRanged is the fields fieldsOf wrote before probeHead: the names
// ranged over and sorted, the values trimmed, the Content-Type sniffed from
// the body for a head without one.
func fieldsRanged(rw *response, withLength bool) [][2]string {
	var keys []string
	for k := range rw.h {
		if k == "Transfer-Encoding" || k == "Trailer" || k == "Content-Length" && !withLength {
			continue
		}
		keys = append(keys, k)
	}
	_, set := rw.h["Content-Type"]
	sniffed := !set && rw.sniffed != ""
	if sniffed {
		keys = append(keys, "Content-Type")
	}
	sort.Strings(keys)
	var fields [][2]string
	for _, k := range keys {
		if sniffed && k == "Content-Type" {
			ct := rw.sniffed
			if rw.body.Len() > 0 {
				ct = http.DetectContentType(rw.body.Bytes())
			}
			fields = append(fields, [2]string{k, ct})
			continue
		}
		for _, v := range rw.h[k] {
			fields = append(fields, [2]string{k, strings.Trim(v, " \t")})
		}
	}
	return fields
}

// mediaTypeRanged is mediaTypeOf as it was before probeHead: one range
// over the map, finding every key of Content-Type's name.
func mediaTypeRanged(h http.Header) (string, bool) {
	var buf [2]string
	keys := buf[:0]
	one, n, has := "", 0, false
	for k, vs := range h {
		if !isContentType(k) {
			continue
		}
		keys = append(keys, k)
		has = has || len(vs) > 0
		for _, v := range vs {
			if v = strings.Trim(v, " \t"); v != "" {
				one, n = v, n+1
			}
		}
	}
	if n <= 1 {
		return one, has
	}
	slices.Sort(keys)
	var b []byte
	for _, k := range keys {
		for _, v := range h[k] {
			b = bodyform.Append(b, v)
		}
	}
	return string(b), true
}
