package batch

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mixedcodec/mixed"
)

var updateFuzzCorpus = flag.Bool("update-fuzz-corpus", false, "rewrite the seed files under testdata/fuzz")

// handlerSeeds are batch bodies (boundary "b") for FuzzHandler: the
// Calendar seed, changesets that commit and roll back, $<Content-ID>
// targets, result references into and out of changesets, and malformed
// changesets.
func handlerSeeds(tb testing.TB) map[string]string {
	raw, err := os.ReadFile("../testdata/calendar-batch-request.http")
	if err != nil {
		tb.Fatal(err)
	}
	_, cal, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	return map[string]string{
		"calendar": strings.ReplaceAll(string(cal), "batch_foobarbaz", "b"),
		"commit": batchBody(changeset("",
			part("1", jsonPart("POST", "Customers", `{"Name":"Ann"}`)),
			part("2", jsonPart("POST", "$1/Orders", `{"Qty":2}`)),
		), part("3", jsonPart("GET", "/odata/Customers(1)", ""))),
		"rollback": batchBody(changeset("cs",
			part("1", jsonPart("POST", "Customers", `{"Name":"Ann"}`)),
			part("2", jsonPart("POST", "$1/Orders", `{"Qty":0}`)),
			part("3", jsonPart("POST", "$2", `{}`)),
		)),
		"references": batchBody(
			changeset("", part("ann", jsonPart("POST", "Customers", `{"Name":"Ann"}`))),
			part("r", jsonPart("POST", "Customers($result[ann][ID])/Orders", `{"Qty":1}`)),
			part("s", jsonPart("GET", "Customers($result[r][Customer])", "")),
			changeset("", part("t", jsonPart("POST", "Customers($result[s][ID])/Orders", `{"Qty":"$result[r][ID]"}`))),
		),
		"malformed": batchBody(
			"--b\r\nContent-Type: multipart/mixed\r\n\r\nno boundary\r\n",
			"--b\r\nContent-Type: multipart/mixed; boundary=cs\r\n\r\n--cs\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x--\r\n--cs--\r\n",
			"--b\r\nContent-Type: multipart/mixed; boundary=cs\r\n\r\n--cs\r\nContent-Type: application/http\r\n\r\nGET /x HTTP/1.1\r\n",
		),
	}
}

// FuzzHandler serves any batch body with every feature on, against the
// transactional shop. Whatever the body: no panic and no deadlock; an
// error answer is an outer 4xx; a 200 answer is a multipart body with one
// part per part of the request, in order; a changeset's part is nested
// with one part per call when it committed; and no group is left open.
func FuzzHandler(f *testing.F) {
	seeds := handlerSeeds(f)
	for _, name := range sortedKeys(seeds) {
		f.Add([]byte(seeds[name]), byte(0))
		f.Add([]byte(seeds[name]), byte(0xff))
	}
	f.Fuzz(func(t *testing.T, body []byte, flags byte) {
		s := newShop()
		opts := HandlerOptions{
			ResultReferences: true,
			BeginGroup:       s.begin,
			OData:            flags&1 != 0,
			HaltOnError:      flags&2 != 0,
			Concurrency:      1 + int(flags>>2&7),
			MaxCalls:         64,
			MaxPartBytes:     1 << 12,
		}
		h := NewHandlerOptions(s, opts)
		req := httptest.NewRequest("POST", "http://shop.example/odata/$batch", bytes.NewReader(body))
		req.Header.Set("Content-Type", "multipart/mixed; boundary=b")
		rec := httptest.NewRecorder()
		done := make(chan struct{})
		go func() {
			defer close(done)
			h.ServeHTTP(rec, req)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("the Handler did not finish in 10 s: a deadlock")
		}
		if !s.mu.TryLock() {
			t.Fatal("a changeset's group was left open")
		}
		s.mu.Unlock()

		resp := rec.Result()
		if resp.StatusCode != 200 {
			if resp.StatusCode < 400 || resp.StatusCode >= 500 {
				t.Fatalf("outer status %d", resp.StatusCode)
			}
			return
		}
		// The request's own top-level parts, read with the codec, are
		// what the response must answer one by one.
		var want []int // members of each part; -1 for a plain call
		rd := mixed.NewReader(bytes.NewReader(body), "b")
		for {
			p, err := rd.NextPart()
			if err != nil {
				break
			}
			n := -1
			if ct := p.Header.GetBytes("Content-Type"); isMediaType(ct, "multipart/mixed") {
				if b, err := mixed.ParseBoundary(string(ct)); err == nil {
					n = 0
					cr := mixed.NewReader(p, b)
					for {
						if _, err := cr.NextPart(); err != nil {
							break
						}
						n++
					}
				}
			}
			want = append(want, n)
		}
		b, err := mixed.ParseBoundary(resp.Header.Get("Content-Type"))
		if err != nil {
			t.Fatal(err)
		}
		var got []int
		r := mixed.NewReader(resp.Body, b)
		for {
			p, err := r.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("response part %d: %v", len(got), err)
			}
			ct := p.Header.Get("Content-Type")
			if !strings.HasPrefix(ct, "multipart/mixed") {
				if _, err := mixed.NewMessageReader(p).ReadResponse(""); err != nil {
					t.Fatalf("response part %d: %v", len(got), err)
				}
				got = append(got, -1)
				continue
			}
			cb, err := mixed.ParseBoundary(ct)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			cr := mixed.NewReader(p, cb)
			for {
				q, err := cr.NextPart()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("response part %d, changeset part %d: %v", len(got), n, err)
				}
				if _, err := mixed.NewMessageReader(q).ReadResponse(""); err != nil {
					t.Fatalf("response part %d, changeset part %d: %v", len(got), n, err)
				}
				n++
			}
			got = append(got, n)
		}
		if len(got) != len(want) {
			t.Fatalf("%d response parts for %d request parts", len(got), len(want))
		}
		for i := range got {
			// A changeset that failed is answered by one response.
			if got[i] != want[i] && !(want[i] >= 0 && got[i] == -1) {
				t.Errorf("part %d: %d nested responses for %d calls", i, got[i], want[i])
			}
		}
	})
}

func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }

// TestFuzzCorpusUpToDate checks that the committed seed files of FuzzHandler
// are the seeds above (-update-fuzz-corpus rewrites them).
func TestFuzzCorpusUpToDate(t *testing.T) {
	seeds := handlerSeeds(t)
	for _, name := range sortedKeys(seeds) {
		for _, flags := range []byte{0, 0xff} {
			path := filepath.Join("testdata", "fuzz", "FuzzHandler", fmt.Sprintf("seed-%s-%d", name, flags))
			want := "go test fuzz v1\n[]byte(" + strconv.Quote(seeds[name]) + ")\nbyte(" + strconv.QuoteRune(rune(flags)) + ")\n"
			if *updateFuzzCorpus {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Errorf("%v (run go test -run TestFuzzCorpusUpToDate -update-fuzz-corpus)", err)
				continue
			}
			if diff := cmp.Diff(want, string(got)); diff != "" {
				t.Errorf("%s is stale (-want +got):\n%s", path, diff)
			}
		}
	}
}

// FuzzClientResponse reads any batch response (boundary "r") into a
// request of three calls and a changeset of two, as the Client does.
// Whatever the body: no panic; every answer is a response whose body is
// within MaxResponseBytes, or an error; and a call left unanswered (no
// part for it, or one the matcher revoked) holds nothing.
func FuzzClientResponse(f *testing.F) {
	part := func(cid, body string) string {
		return fmt.Sprintf("--r\r\nContent-Type: application/http\r\nContent-ID: %s\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s\r\n", cid, len(body), body)
	}
	cs := "--r\r\nContent-Type: multipart/mixed; boundary=c\r\nContent-ID: response-cs\r\n\r\n" +
		"--c\r\nContent-Type: application/http\r\nContent-ID: response-c1\r\n\r\nHTTP/1.1 201 Created\r\n\r\n" +
		"--c\r\nContent-Type: application/http\r\nContent-ID: response-c2\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n--c--\r\n"
	for _, seed := range []string{
		part("response-a", "A") + part("response-0.0", "Z") + part("response-b", "B") + cs + "--r--\r\n",
		part("response- a", "A") + part("<0.0>", "Z") + part(" < response-b > ", "B") + "--r--\r\n",
		part("b", "B") + part("response-a", "A") + "--r--\r\n",
		part("response-a", "A") + part("response-a", "A2") + "--r--\r\n",
		"--r\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 200 OK\r\n\r\nA\r\n--r--\r\n",
		part("response-cs", "rolled back") + "--r--\r\n",
		part("response-a", strings.Repeat("x", 100)) + "--r--\r\n",
		"--r\r\nContent-ID: response-a\r\n\r\nHTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\n\x1f\x8b\r\n--r--\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		b := (&Client{Endpoint: "https://example.com/batch"}).NewBatch()
		for _, id := range []string{"a", "0.0", "b"} {
			if _, err := b.Add(httptest.NewRequest("GET", "/"+id, nil), id); err != nil {
				t.Fatal(err)
			}
		}
		cs := b.Changeset()
		cs.id = "cs"
		for _, id := range []string{"c1", "c2"} {
			if _, err := cs.Add(httptest.NewRequest("PUT", "/"+id, nil), id); err != nil {
				t.Fatal(err)
			}
		}
		s := &sender{maxResp: 64}
		// Its error is the batch's: the calls are what is checked.
		s.readResponses(bytes.NewReader(body), "r", b.calls)
		for _, c := range b.calls {
			if !c.answered {
				if c.aResp != nil || c.aErr != nil {
					t.Fatalf("call %s: unanswered but holds %v, %v", c.id, c.aResp, c.aErr)
				}
				continue
			}
			if c.aResp == nil && c.aErr == nil {
				t.Fatalf("call %s: answered with nothing", c.id)
			}
			if c.aResp != nil {
				got, rerr := io.ReadAll(c.aResp.Body)
				if rerr != nil || len(got) > 64 {
					t.Fatalf("call %s: body of %d bytes (%v), over MaxResponseBytes 64", c.id, len(got), rerr)
				}
			}
		}
	})
}
