package batch

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
)

// The Locations that $id urls name are kept until the batch ends (a later
// call's url "$a/x" resolves against call a's Location once a's part is
// written), and count as the results of references do: from the room
// MaxBufferedBytes leaves for them, and within MaxTotalBufferedBytes. A
// call whose $id url names a Location that did not fit answers 424 saying
// so; a call that others only depend on (dependsOn, no $id url) keeps no
// Location. Before, every such call's Location was kept outside the
// budgets: a batch of 200 calls answering 60 KiB Locations, each named by
// the next call's url, held 12 MB until it ended, whatever the budgets of
// 1 MiB said (the heap grew by 13.9 MB, the batch stalled at its last
// call; as much with dependsOn alone). Now it grows by 1.6 MB, 0.8 MB of
// it the 13 Locations that fit (and by 0.8 MB with dependsOn alone). The
// heap is measured (live bytes after a collection) with the batch stalled
// at its last call and its client done reading the rest; the bound is the
// budget that holds the Locations and a slack of 2 MiB (the batch's
// buffers, the connection's, the records of its 401 calls). The client
// counts what it reads without keeping it, so that its own copy of the
// Locations is not what is measured.
func TestBudgetAttackLocationsWithinBudget(t *testing.T) {
	const (
		pairs = 200
		loc   = 60 << 10 // within the 64 KiB of a head
		slack = 2 << 20
	)
	for _, tc := range []struct {
		name  string
		opts  HandlerOptions
		bound int64 // the budget that holds the Locations
		id    bool  // the later calls' urls name the Locations ($id), or they only depend on the calls
	}{
		{"MaxBufferedBytes", HandlerOptions{MaxBufferedBytes: 1 << 20}, 1 << 20, true},
		{"MaxTotalBufferedBytes", HandlerOptions{MaxBufferedBytes: 8 << 20, MaxTotalBufferedBytes: 1 << 20}, 1 << 20, true},
		{"dependsOn", HandlerOptions{MaxBufferedBytes: 1 << 20}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			held, release := make(chan struct{}), make(chan struct{})
			inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch {
				case r.URL.Path == "/hold":
					close(held)
					<-release
				case strings.HasSuffix(r.URL.Path, "/x"): // a $id url: the Location and "/x"
				case strings.HasPrefix(r.URL.Path, "/loc/"):
					// Each call's own Location, as a proxy's copy of its
					// upstream's.
					w.Header().Set("Location", r.URL.Path+"/"+strings.Repeat("l", loc))
					w.WriteHeader(http.StatusCreated)
				default:
					w.WriteHeader(http.StatusNotFound)
				}
			})
			opts := tc.opts
			opts.MaxCalls, opts.Logger = 2*pairs+1, discardSlog()
			h := NewHandlerOptions(inner, opts)
			srv := httptest.NewServer(h)
			defer srv.Close()
			var reqs []string
			for i := range pairs {
				url := fmt.Sprintf("$a%d/x", i)
				if !tc.id {
					url = "/x"
				}
				reqs = append(reqs,
					fmt.Sprintf(`{"id":"a%d","method":"GET","url":"/loc/%d"}`, i, i),
					fmt.Sprintf(`{"id":"b%d","method":"GET","url":%q,"dependsOn":["a%d"]}`, i, url, i))
			}
			reqs = append(reqs, `{"id":"hold","method":"GET","url":"/hold"}`)
			body := `{"requests":[` + strings.Join(reqs, ",") + `]}`

			var before, after runtime.MemStats
			runtime.GC()
			runtime.GC()
			runtime.ReadMemStats(&before)
			type answer struct {
				n   []int // occurrences of each of marks
				err error
			}
			marks := []string{`"status":201`, `"status":200`, `"status":424`, "MaxBufferedBytes"}
			// Every call's answer but the last: the batch is stalled,
			// its client has read all it can, and neither allocates.
			allRead := make(chan struct{})
			c := &markCounter{marks: marks, n: make([]int, len(marks)), until: 3, want: 2 * pairs, reached: allRead}
			done := make(chan answer, 1)
			go func() {
				req, _ := http.NewRequest("POST", srv.URL, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("OData-Version", "4.01")
				req.Header.Set("Prefer", "odata.continue-on-error")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					close(allRead)
					done <- answer{err: err}
					return
				}
				defer resp.Body.Close()
				_, err = io.Copy(c, resp.Body)
				if c.reached != nil {
					close(c.reached) // cut short: the test looks at what came
				}
				done <- answer{c.n, err}
			}()
			<-allRead
			<-held
			runtime.GC()
			runtime.ReadMemStats(&after)
			close(release)
			a := <-done
			if a.err != nil {
				t.Fatal(a.err)
			}
			grew := int64(after.HeapAlloc) - int64(before.HeapAlloc)
			t.Logf("%d calls answering Locations of %d bytes: the heap grew by %d bytes with the batch stalled at its last call", pairs, loc, grew)
			if grew > tc.bound+slack {
				t.Errorf("the heap grew by %d bytes, over the budget %d and a slack of %d: the Locations were held outside it", grew, tc.bound, slack)
			}
			// Some fit, and their $id urls resolved; the others answer
			// 424 and say why. The last call answers 200 too.
			created, ok, failed, why := a.n[0], a.n[1]-1, a.n[2], a.n[3]
			t.Logf("%d dependent calls answered 200, %d 424", ok, failed)
			switch {
			case created != pairs || ok+failed != pairs:
				t.Errorf("%d calls answered 201, %d of the dependent ones 200 and %d 424: want %d, and all of those", created, ok, failed, pairs)
			case why != failed:
				t.Errorf("%d of the %d 424 answers name MaxBufferedBytes", why, failed)
			case !tc.id && failed > 0:
				t.Errorf("%d calls that only depend on others answered 424: no Location is needed", failed)
			case tc.id && (ok == 0 || failed == 0):
				t.Errorf("%d $id urls resolved and %d answered 424, want some of each: %d bytes of Locations against a budget of %d", ok, failed, pairs*loc, tc.bound)
			}
			if used := h.shared.used.Load(); used != 0 {
				t.Errorf("the Handler's budget holds %d bytes after the batch, want 0", used)
			}
		})
	}
}

// A markCounter counts, in what is written to it, the occurrences of each
// of its marks, holding no more of it than the longest mark, and
// allocating nothing as it goes (the heap is measured as it reads): it
// reads a batch response whose Locations are not what a test measures.
// Once the first `until` marks count `want` in all, it closes reached.
type markCounter struct {
	marks   []string
	n       []int
	tail    []byte
	until   int
	want    int
	reached chan struct{}
}

func (c *markCounter) Write(p []byte) (int, error) {
	b := append(c.tail, p...)
	keep, seen := 0, 0
	for i, m := range c.marks {
		// Each occurrence once: those that began in the tail end past
		// it (the tail is shorter than any mark).
		c.n[i] += bytes.Count(b, []byte(m))
		keep = max(keep, len(m)-1)
		if i < c.until {
			seen += c.n[i]
		}
	}
	c.tail = append(c.tail[:0], b[max(0, len(b)-keep):]...)
	if seen >= c.want && c.reached != nil {
		close(c.reached)
		c.reached = nil
	}
	return len(p), nil
}
