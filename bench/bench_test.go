package main

import (
	"bytes"
	"testing"
	"time"
)

// testSizes keeps the big workloads small: the adapters, not the sizes,
// are under test.
var testSizes = sizes{Big: 256 << 10, Near: 64 << 10}

// TestPeersAgree checks every Go adapter against mime/multipart (and
// net/http) on every workload it handles, so that a broken adapter shows
// up as a failure here rather than as a "wrong" cell or a fast bogus
// number in the table.
func TestPeersAgree(t *testing.T) {
	ws, err := makeWorkloads(testSizes)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range ws {
		for _, g := range goImpls {
			if g.baseline {
				continue
			}
			r, why := g.runner(w.Kind)
			if r == nil {
				if why == "" {
					t.Errorf("%s on %s: not applicable without a reason", g.Name, w.Name)
				}
				continue
			}
			t.Run(w.Name+"/"+g.Key, func(t *testing.T) {
				// Twice, so that the reuse of readers and buffers between
				// runs is checked too.
				for i := range 2 {
					ok, detail, err := verify(r, w)
					if err != nil {
						t.Fatalf("run %d: %v", i, err)
					}
					if !ok {
						t.Fatalf("run %d: parts differ from mime/multipart: %s", i, detail)
					}
				}
			})
		}
	}
}

// TestSinkSeesDifferences makes sure the hash is not blind: a body byte, a
// header value or a part boundary moved must change it.
func TestSinkSeesDifferences(t *testing.T) {
	base := multipartBody([]rawPart{
		{header: [][2]string{{"Content-Type", "text/plain"}}, body: []byte("hello")},
		{header: [][2]string{{"Content-ID", "<a>"}}, body: []byte("world")},
	})
	variants := map[string][]byte{
		"body byte":    bytes.Replace(base, []byte("hello"), []byte("hellO"), 1),
		"header value": bytes.Replace(base, []byte("text/plain"), []byte("text/plaim"), 1),
		"split moved": multipartBody([]rawPart{
			{header: [][2]string{{"Content-Type", "text/plain"}}, body: []byte("hellow")},
			{header: [][2]string{{"Content-ID", "<a>"}}, body: []byte("orld")},
		}),
		"part dropped": multipartBody([]rawPart{
			{header: [][2]string{{"Content-Type", "text/plain"}}, body: []byte("hello")},
		}),
	}
	want := &workload{Kind: "parse", Data: base}
	if err := want.reference(); err != nil {
		t.Fatal(err)
	}
	for name, data := range variants {
		w := &workload{Kind: "parse", Data: data}
		if err := w.reference(); err != nil {
			t.Fatal(err)
		}
		if w.Want == want.Want {
			t.Errorf("%s: same hash as the original", name)
		}
	}
	// Field order and name case are not part of the comparison:
	// mime/multipart keeps neither.
	reordered := multipartBody([]rawPart{
		{header: [][2]string{{"content-type", "text/plain"}}, body: []byte("hello")},
		{header: [][2]string{{"CONTENT-ID", "<a>"}}, body: []byte("world")},
	})
	w := &workload{Kind: "parse", Data: reordered}
	if err := w.reference(); err != nil {
		t.Fatal(err)
	}
	if w.Want != want.Want {
		t.Errorf("name case changed the hash")
	}
}

// TestMeasureCountsWork runs the timing loop once on a small workload: it
// must report a throughput and the timed sink must have seen the bytes.
func TestMeasureCountsWork(t *testing.T) {
	w := &workload{Kind: "parse", Data: smallParts()}
	if err := w.reference(); err != nil {
		t.Fatal(err)
	}
	v, err := measure(&mixedParser{}, w, time.Millisecond)
	if err != nil || v <= 0 {
		t.Fatalf("measure = %v, %v", v, err)
	}
}
