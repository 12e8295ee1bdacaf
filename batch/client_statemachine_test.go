package batch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// The client's state-machine test sends batches through a Client with a
// RetryPolicy and Limits to a flaky scripted server, which answers each
// call (or changeset) at random with 200, 429 or 503 and a Retry-After,
// drops it, or answers its whole request with 413 past a size or with a
// closed connection; it reorders the parts it answers and spells their
// Content-IDs in the ways real servers do. The server records what it last
// answered for each call and how many times it took each call up; then
// every call must have exactly one result, that answer and never another
// call's, and must have been sent again exactly while the policy allowed.

// flakyAnswer is what the server last did with a call.
type flakyAnswer struct {
	kind   string // "ok", "status", "drop", "closed", "413", "cs-fail"
	status int
	after  string // the Retry-After sent
}

// flakyServer is the scripted server. Its choices come from rng, drawn
// from rapid's seed, under mu.
type flakyServer struct {
	mu       sync.Mutex
	rng      *rand.Rand
	max413   int // a request with more calls than this is refused with 413
	noIDs    bool
	seen     map[string]int // how many times each call was taken up
	last     map[string]flakyAnswer
	sizes    []int // the body size of each request
	counts   []int // the calls of each request
	problems []string
}

func (s *flakyServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	var sr sentRequest
	sr.Parts, err = readSent(bytes.NewReader(body), r.Header.Get("Content-Type"), &sr.Boundaries)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.problems = append(s.problems, "unreadable request: "+err.Error())
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	n := 0
	for _, p := range sr.Parts {
		n += max(1, len(p.Parts))
	}
	s.sizes = append(s.sizes, len(body))
	s.counts = append(s.counts, n)
	ids := func(p sentPart) []string {
		if p.Parts == nil {
			return []string{p.CID}
		}
		var out []string
		for _, q := range p.Parts {
			out = append(out, q.CID)
		}
		return out
	}
	// Past max413 calls, and now and then whatever its size (a "too
	// many requests in a batch" that depends on the server's load).
	if n > s.max413 || len(sr.Parts) > 1 && s.rng.IntN(15) == 0 {
		if len(sr.Parts) == 1 {
			// The client cannot halve one unit: this is its answer.
			for _, id := range ids(sr.Parts[0]) {
				s.seen[id]++
				s.last[id] = flakyAnswer{kind: "413", status: 413}
			}
		} else {
			// The client halves the request, but for the calls it
			// cannot send again, for which this is the answer.
			for _, p := range sr.Parts {
				for _, id := range ids(p) {
					s.last[id] = flakyAnswer{kind: "413-halved", status: 413}
				}
			}
		}
		http.Error(w, "request entity too large", http.StatusRequestEntityTooLarge)
		return
	}
	for _, p := range sr.Parts {
		for _, id := range ids(p) {
			s.seen[id]++
		}
	}
	if s.rng.IntN(12) == 0 {
		// The connection closes after the request was taken up.
		for _, p := range sr.Parts {
			for _, id := range ids(p) {
				s.last[id] = flakyAnswer{kind: "closed"}
			}
		}
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	order := s.rng.Perm(len(sr.Parts))
	if s.noIDs {
		for i := range order {
			order[i] = i // without Content-IDs, order is all there is
		}
	}
	var out bytes.Buffer
	for _, k := range order {
		p := sr.Parts[k]
		kind, status, after := "ok", 200, ""
		switch x := s.rng.IntN(10); {
		case x < 2:
			kind, status = "status", []int{429, 503}[s.rng.IntN(2)]
			after = []string{"0", "0.001", "0.002", "", "30"}[s.rng.IntN(5)]
		case x < 3 && !s.noIDs:
			kind = "drop"
		}
		if p.Parts != nil && kind == "status" {
			kind = "cs-fail"
		}
		for _, id := range ids(p) {
			s.last[id] = flakyAnswer{kind: kind, status: status, after: after}
		}
		if kind == "drop" {
			continue
		}
		out.WriteString("--resp\r\n")
		cid := func(id string) string {
			if s.noIDs {
				return ""
			}
			f := []string{"response-%s", "response- %s", "<response-%s>", "%s", " < response-%s > "}[s.rng.IntN(5)]
			return "Content-ID: " + fmt.Sprintf(f, id) + "\r\n"
		}
		msg := func(status int, after, body string) string {
			h := ""
			if after != "" {
				h = "Retry-After: " + after + "\r\n"
			}
			return fmt.Sprintf("HTTP/1.1 %d %s\r\n%sContent-Length: %d\r\n\r\n%s", status, http.StatusText(status), h, len(body), body)
		}
		switch {
		case p.Parts == nil:
			fmt.Fprintf(&out, "Content-Type: application/http\r\n%s\r\n%s\r\n", cid(p.CID), msg(status, after, p.CID))
		case kind == "cs-fail":
			fmt.Fprintf(&out, "Content-Type: application/http\r\n%s\r\n%s\r\n", cid(p.CID), msg(status, after, p.CID))
		default:
			fmt.Fprintf(&out, "Content-Type: multipart/mixed; boundary=cs\r\n%s\r\n", cid(p.CID))
			for _, q := range p.Parts {
				fmt.Fprintf(&out, "--cs\r\nContent-Type: application/http\r\n%s\r\n%s\r\n", cid(q.CID), msg(200, "", q.CID))
			}
			out.WriteString("--cs--\r\n")
		}
	}
	out.WriteString("--resp--\r\n")
	w.Header().Set("Content-Type", "multipart/mixed; boundary=resp")
	w.Write(out.Bytes())
}

// flakyCall is a call of the test's batch, with what the model needs.
type flakyCall struct {
	call     *Call
	eligible bool // idempotent or keyed, with a replayable body
	replay   bool // a replayable body
	cs       *Changeset
}

func TestClientStateMachine(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		s := &flakyServer{
			rng:    rand.New(rand.NewPCG(rapid.Uint64().Draw(rt, "seed"), 1)),
			max413: rapid.IntRange(1, 12).Draw(rt, "max413"),
			noIDs:  rapid.Bool().Draw(rt, "noIDs"),
			seen:   map[string]int{},
			last:   map[string]flakyAnswer{},
		}
		srv := httptest.NewServer(s)
		defer srv.Close()
		policy := RetryPolicy{
			MaxAttempts: rapid.IntRange(0, 4).Draw(rt, "maxAttempts"),
			BaseBackoff: time.Microsecond,
			MaxBackoff:  10 * time.Millisecond,
		}
		limits := Limits{MaxCalls: rapid.IntRange(3, 10).Draw(rt, "maxCalls")} // a changeset has at most 3
		if rapid.Bool().Draw(rt, "byBytes") {
			limits.MaxBodyBytes = rapid.Int64Range(2000, 8000).Draw(rt, "maxBytes")
		}
		var infoMu sync.Mutex
		infos := map[string]int{}
		c := &Client{Endpoint: srv.URL + "/batch", HTTPClient: srv.Client(), Limits: limits, Retry: policy,
			Concurrency: rapid.IntRange(1, 3).Draw(rt, "concurrency"),
			OnCall: func(ci CallInfo) {
				infoMu.Lock()
				infos[ci.ID]++
				infoMu.Unlock()
			}}
		b := c.NewBatch()
		var calls []flakyCall
		var cs *Changeset
		nCalls := rapid.IntRange(1, 25).Draw(rt, "calls")
		for i := range nCalls {
			switch rapid.IntRange(0, 5).Draw(rt, "where") {
			case 0:
				cs = b.Changeset()
			case 1:
				cs = nil
			}
			if cs != nil && len(cs.Calls()) >= 3 {
				cs = nil
			}
			method := rapid.SampledFrom([]string{"GET", "PUT", "DELETE", "POST", "PATCH"}).Draw(rt, "method")
			var body io.Reader
			size := 0
			if method != "GET" && method != "DELETE" {
				size = rapid.IntRange(0, 600).Draw(rt, "size")
				body = strings.NewReader(strings.Repeat("x", size))
			}
			req, err := http.NewRequest(method, fmt.Sprintf("/r/%d", i), body)
			if err != nil {
				rt.Fatal(err)
			}
			keyed := rapid.IntRange(0, 3).Draw(rt, "keyed") == 0
			if keyed {
				req.Header.Set("Idempotency-Key", fmt.Sprint(i))
			}
			if size > 0 && rapid.IntRange(0, 4).Draw(rt, "noGetBody") == 0 {
				req.GetBody = nil // sent once: never again
			}
			var call *Call
			if cs != nil {
				call, err = cs.Add(req, "")
			} else {
				call, err = b.Add(req, "")
			}
			if err != nil {
				rt.Fatal(err)
			}
			replay := size == 0 || req.GetBody != nil
			eligible := (idempotent(req) || keyed) && replay
			calls = append(calls, flakyCall{call: call, eligible: eligible, replay: replay, cs: cs})
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		b.Do(ctx)

		s.mu.Lock()
		defer s.mu.Unlock()
		for _, p := range s.problems {
			rt.Error(p)
		}
		for i, n := range s.counts {
			if n > limits.maxCalls() {
				rt.Errorf("request %d has %d calls, over MaxCalls %d", i, n, limits.MaxCalls)
			}
			if limits.MaxBodyBytes > 0 && int64(s.sizes[i]) > limits.MaxBodyBytes {
				rt.Errorf("request %d has %d bytes, over MaxBodyBytes %d", i, s.sizes[i], limits.MaxBodyBytes)
			}
		}
		maxAttempts := max(1, policy.MaxAttempts)
		// A changeset goes again only when all its calls may.
		csEligible, csReplay := map[*Changeset]bool{}, map[*Changeset]bool{}
		for _, sc := range calls {
			if sc.cs != nil {
				if _, ok := csEligible[sc.cs]; !ok {
					csEligible[sc.cs], csReplay[sc.cs] = true, true
				}
				csEligible[sc.cs] = csEligible[sc.cs] && sc.eligible
				csReplay[sc.cs] = csReplay[sc.cs] && sc.replay
			}
		}
		for _, sc := range calls {
			call := sc.call
			id := call.ID()
			select {
			case <-call.Done():
			default:
				rt.Fatalf("call %s has no result after Do", id)
			}
			if infos[id] != 1 {
				rt.Errorf("call %s: OnCall called %d times, want once", id, infos[id])
			}
			eligible, replay := sc.eligible, sc.replay
			if sc.cs != nil {
				eligible, replay = csEligible[sc.cs], csReplay[sc.cs]
			}
			a := s.last[id]
			att, seen := call.Attempts(), s.seen[id]
			if a.kind == "413-halved" {
				seen++ // the client counts the refusal as its attempt
			}
			if att != seen {
				rt.Errorf("call %s: Attempts %d, but the server took it up %d times", id, att, seen)
			}
			if att > maxAttempts {
				rt.Errorf("call %s: %d attempts, over MaxAttempts %d", id, att, maxAttempts)
			}
			if att > 1 && !eligible {
				rt.Errorf("call %s (%s) sent %d times, but may not be sent again", id, call.Request().Method, att)
			}
			resp, err := call.Response(), call.Err()
			if att == 0 {
				if !errors.Is(err, ErrCallTooLarge) {
					rt.Errorf("call %s never sent, error %v", id, err)
				}
				continue
			}
			retryable := false
			switch a.kind {
			case "ok":
				if err != nil || resp.StatusCode != 200 || readAll(rt, resp) != id {
					rt.Errorf("call %s: answered 200 with its id, got %v, %v", id, resp, err)
				}
			case "status":
				retryable = a.after != "30"
				if err != nil || resp.StatusCode != a.status || readAll(rt, resp) != id {
					rt.Errorf("call %s: answered %d with its id, got %v, %v", id, a.status, resp, err)
				}
			case "cs-fail":
				retryable = a.after != "30"
				var ce *ChangesetError
				if !errors.As(err, &ce) || ce.StatusCode != a.status {
					rt.Errorf("call %s: its changeset answered %d, got %v", id, a.status, err)
				}
			case "drop":
				retryable = true
				if !errors.Is(err, ErrNoResponse) {
					rt.Errorf("call %s: dropped, got %v, %v", id, resp, err)
				}
			case "closed":
				retryable = true
				if err == nil || !strings.Contains(err.Error(), "request failed") {
					rt.Errorf("call %s: its request's connection closed, got %v, %v", id, resp, err)
				}
			case "413", "413-halved":
				if a.kind == "413-halved" && replay {
					rt.Errorf("call %s: not sent again in half a request, though it can be", id)
				}
				var se *StatusError
				if !errors.As(err, &se) || se.StatusCode != 413 {
					rt.Errorf("call %s: refused with 413 alone, got %v, %v", id, resp, err)
				}
			default:
				rt.Errorf("call %s: sent %d times, but the server has no answer for it: %v", id, att, err)
			}
			if retryable && eligible && att < maxAttempts {
				rt.Errorf("call %s: last answer %+v may be retried, after %d of %d attempts", id, a, att, maxAttempts)
			}
		}
	})
}

func readAll(t interface{ Fatal(...any) }, resp *http.Response) string {
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return string(b)
}
