package batch

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Goroutines that handlers leave behind write, fix heads, flush and ask
// for the Header as their calls end, are abandoned at CallTimeout,
// panic, or are dropped with a client that goes, in multipart batches
// with changesets, OData JSON with atomicity groups and Graph JSON, with
// heads that count and wait in small budgets: under -race nothing of a
// response is touched by two goroutines at once, and the Handler's budget
// ends at 0. (It found Header reading the fields the batch dropped or
// replaced as a call ended; see TestHandlerAbandonedHeaderRacesNothing.)
func TestHandlerLeftoverGoroutinesSettleBudget(t *testing.T) {
	var wg sync.WaitGroup
	val := strings.Repeat("v", 1500)
	// /MODE/LEFT/FIELDS: FIELDS fields of 1.5 KiB, a goroutine left
	// behind that does LEFT things, and what the handler does (MODE).
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var mode, g2, nf int
		fmt.Sscanf(r.URL.Path, "/%d/%d/%d", &mode, &g2, &nf)
		w.Header().Set("Content-Type", "text/plain")
		for i := range nf {
			w.Header().Set(fmt.Sprintf("X-F%d", i), val)
		}
		if r.Method == http.MethodHead {
			mode = mode % 3
		}
		if g2 > 0 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range g2 {
					switch i % 4 {
					case 0:
						w.WriteHeader(201 + i%3)
					case 1:
						w.Write([]byte(val))
					case 2:
						_ = w.Header()["X-F0"]
					case 3:
						if f, ok := w.(http.Flusher); ok {
							f.Flush()
						}
					}
					time.Sleep(time.Duration(rand.IntN(200)) * time.Microsecond)
				}
			}()
		}
		switch mode {
		case 0:
		case 1:
			w.WriteHeader(http.StatusNoContent)
			w.Write([]byte("x"))
		case 2:
			w.WriteHeader(103)
			w.WriteHeader(200)
			io.WriteString(w, val)
		case 3:
			w.WriteHeader(200)
			panic("boom")
		case 4:
			<-r.Context().Done()
		case 5:
			io.WriteString(w, strings.Repeat(val, 50))
			<-r.Context().Done()
		case 6:
			w.(http.Flusher).Flush()
			io.WriteString(w, val)
		case 7:
			io.WriteString(w, val)
			if g2 == 0 {
				// A field set late; not beside the goroutine left
				// behind, whose look at the map would race with it
				// (the handler's own race, as in net/http).
				w.Header().Set("X-Late", val)
			}
			w.WriteHeader(304)
		}
	})
	h := NewHandlerOptions(inner, HandlerOptions{Changesets: true, Concurrency: 4, MaxBufferedBytes: 16 << 10, MaxTotalBufferedBytes: 40 << 10, CallTimeout: 15 * time.Millisecond, Logger: discardSlog()})
	srv := httptest.NewServer(h)
	defer srv.Close()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rnd := rand.New(rand.NewPCG(seed, 2))
	var cwg sync.WaitGroup
	for b := range 24 {
		var parts []string
		var reqs []map[string]any
		for k := range 12 {
			path := fmt.Sprintf("/%d/%d/%d", rnd.IntN(8), rnd.IntN(6), rnd.IntN(12))
			m := "GET"
			if rnd.IntN(5) == 0 {
				m = "HEAD"
			}
			p := part(fmt.Sprint(k), m+" "+path+" HTTP/1.1\r\n")
			if rnd.IntN(4) == 0 {
				p = changeset(fmt.Sprint("cs", k), part(fmt.Sprint(k), "POST "+path+" HTTP/1.1\r\n"), part(fmt.Sprint(k, "b"), "POST "+path+" HTTP/1.1\r\n"))
			}
			parts = append(parts, p)
			r := map[string]any{"id": fmt.Sprint(k), "method": m, "url": path}
			if rnd.IntN(4) == 0 {
				r["atomicityGroup"] = "g"
			}
			reqs = append(reqs, r)
		}
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			var resp *http.Response
			var err error
			switch b % 3 {
			case 0:
				resp, err = http.Post(srv.URL, "multipart/mixed; boundary=b", strings.NewReader(batchBody(parts...)))
			case 1:
				bb, _ := json.Marshal(map[string]any{"requests": reqs})
				req, _ := http.NewRequest("POST", srv.URL+"/$batch", strings.NewReader(string(bb)))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("OData-Version", "4.01")
				resp, err = http.DefaultClient.Do(req)
			case 2:
				for i := range reqs {
					delete(reqs[i], "atomicityGroup")
				}
				bb, _ := json.Marshal(map[string]any{"requests": reqs})
				resp, err = http.Post(srv.URL, "application/json", strings.NewReader(string(bb)))
			}
			if err != nil {
				t.Error(err)
				return
			}
			if b%5 == 4 {
				resp.Body.Read(make([]byte, 100))
				resp.Body.Close() // client goes
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}()
	}
	cwg.Wait()
	srv.Close() // once every batch has ended
	wg.Wait()
	checkBudgetSettled(t, h)
}
