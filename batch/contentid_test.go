package batch

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"
)

// The server's echo and the client's match are each other's inverse, for
// ids with and without angle brackets, and OData's unchanged echo matches
// too.
func TestContentIDRoundTrip(t *testing.T) {
	for _, cid := range []string{"1", "<item1:12930812@barnyard.example.com>", "<b29c5de2-0db4-490b-b421-6a51b598bd22+2>", "pony", "response-x", " 7 "} {
		id := requestID([]byte(cid))
		echo := appendResponseID(nil, []byte(cid))
		if got := callID(echo); got != id {
			t.Errorf("Content-ID %q: echoed as %q, matched to %q, want %q", cid, echo, got, id)
		}
		if got := callID([]byte(cid)); got != id && cid != "response-x" {
			t.Errorf("Content-ID %q echoed unchanged (OData): matched to %q, want %q", cid, got, id)
		}
	}
	if got, want := string(appendResponseID(nil, []byte("<a+b>"))), "<response-a+b>"; got != want {
		t.Errorf("echo of <a+b>: %q, want %q", got, want)
	}
}

func TestHandlerContentIDEcho(t *testing.T) {
	body := batchBody(
		part("1", "GET /a HTTP/1.1\r\n"),
		part("<uuid + 7>", "GET /a HTTP/1.1\r\n"),
		part("<item1:12930812@barnyard.example.com>", "GET /a HTTP/1.1\r\n"),
		part("", "GET /a HTTP/1.1\r\n"),
	)
	got := readBatchResponse(t, serve(t, describe, HandlerOptions{}, "/batch", nil, body))
	var ids []string
	for _, p := range got {
		ids = append(ids, p.ContentID)
	}
	want := []string{"response-1", "<response-uuid + 7>", "<response-item1:12930812@barnyard.example.com>", ""}
	if diff := cmp.Diff(want, ids); diff != "" {
		t.Errorf("response Content-IDs (-want +got):\n%s", diff)
	}
}

// TestMatcherLookups: the matcher looks each id up once (twice only when
// some id itself starts with "response-"), first by the part's position,
// and matches every Content-ID as looking up both the Content-ID as it is
// and without "response-" does: the same unit, or the same problem.
func TestMatcherLookups(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		atom := rapid.SampledFrom([]string{"1", "a", "response-", "response-1", " ", "<", ">", "x y"})
		word := rapid.Custom(func(t *rapid.T) string {
			var b strings.Builder
			for _, a := range rapid.SliceOfN(atom, 1, 3).Draw(t, "atoms") {
				b.WriteString(a)
			}
			return b.String()
		})
		ids := rapid.SliceOfNDistinct(word, 1, 6, func(s string) string { return s }).Draw(t, "ids")
		// Parts in order, as servers send them, or not; with or
		// without the prefix; or anything.
		cid := rapid.OneOf(word, rapid.SampledFrom(ids), rapid.Map(rapid.SampledFrom(ids), func(id string) string { return "<" + responsePrefix + id + ">" }))
		cids := rapid.SliceOfN(cid, 0, 8).Draw(t, "cids")
		if rapid.Bool().Draw(t, "in order") {
			for i := range min(len(cids), len(ids)) {
				cids[i] = responsePrefix + ids[i]
			}
		}
		m := newMatcher(len(ids))
		// A call's id names it as the server reads it, without the
		// angle brackets and white space around it.
		byID := map[string]int{}
		for k, id := range ids {
			m.add(id, k)
			byID[echoedID([]byte(id))] = k
		}
		// An id added again for another unit (the matcher is never
		// given one, but its hint must not stand for the lookup then).
		if again := rapid.IntRange(-1, len(ids)-1).Draw(t, "again"); again >= 0 {
			k := (again + 1) % len(ids)
			m.add(ids[again], k)
			byID[echoedID([]byte(ids[again]))] = k
		}
		seen := make([]int8, len(ids))
		var want, got []int
		for i, cid := range cids {
			got = append(got, m.match([]byte(cid), i))
			// The lookups as they were: both keys, always.
			exact := strings.TrimSpace(cid)
			if len(exact) >= 2 && exact[0] == '<' && exact[len(exact)-1] == '>' {
				exact = strings.TrimSpace(exact[1 : len(exact)-1])
			}
			k := -1
			if exact == "" {
				if i < len(ids) {
					k = i
				}
			} else {
				ke, oke := byID[exact]
				ks, oks := byID[strings.TrimSpace(strings.TrimPrefix(exact, responsePrefix))]
				switch {
				case oke && oks && ke != ks:
					seen[ke], seen[ks] = -1, -1
				case oke:
					k = ke
				case oks:
					k = ks
				}
			}
			if k >= 0 {
				if seen[k] != 0 {
					seen[k], k = -1, -1
				} else {
					seen[k] = 1
				}
			}
			want = append(want, k)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("units matched (-want +got):\n%s", diff)
		}
	})
}
