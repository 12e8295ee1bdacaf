package mixed

import (
	"bytes"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"
)

// The finder, its rare-byte filter and its Horspool fallback all agree with
// bytes.Index, on data that makes each path run.
func TestFinderAgreesWithIndex(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, boundary := range []string{"batch_foobarbaz", "batch_pK7JBAk73-E=_AA5eFwv4m2Q=", "aaaa", "a", "QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ"} {
		pat := []byte("\r\n--" + boundary)
		var f finder
		f.reset(pat, 4)
		rare := pat[f.first]
		fillers := map[string][]byte{
			"rare":    bytes.Repeat([]byte{rare}, 3000),              // every byte a false hit: the fallback runs
			"prefix":  bytes.Repeat(pat[:len(pat)-1], 3000/len(pat)), // near-delimiters
			"crlf":    bytes.Repeat([]byte("ab\r\n--"), 500),
			"random":  make([]byte, 3000),
			"pattern": []byte{},
		}
		// A flood of the first filter byte, then of the delimiter's last
		// byte: the count picks another filter, twice; alternating runs of
		// them, shorter than a count; every delimiter byte at once: the
		// Horspool stretches.
		fillers["rare-then-last"] = append(bytes.Repeat([]byte{rare}, 1500), bytes.Repeat(pat[len(pat)-1:], 1500)...)
		var alt, all []byte
		for k := 0; len(alt) < 3*stretch; k++ {
			alt = append(alt, bytes.Repeat(pat[k%len(pat):k%len(pat)+1], 1+k%97)...)
			all = append(all, pat[rng.IntN(len(pat))])
		}
		fillers["alternating"], fillers["all-bytes"] = alt, all
		for i := range fillers["random"] {
			fillers["random"][i] = "\r\n-abQ"[rng.IntN(6)]
		}
		for name, fill := range fillers {
			for _, at := range []int{-1, 0, min(1, len(fill)), len(fill) / 2, len(fill)} {
				s := append([]byte(nil), fill...)
				if at >= 0 {
					s = append(append(append([]byte(nil), fill[:at]...), pat...), fill[at:]...)
				}
				want := bytes.Index(s, pat)
				var fresh finder
				fresh.reset(pat, 4)
				if got := fresh.index(s); got != want {
					t.Errorf("boundary %q, %s, delimiter at %d: index = %d, want %d", boundary, name, at, got, want)
				}
				// The filter chosen by earlier searches.
				if got := f.index(s); got != want {
					t.Errorf("boundary %q, %s, delimiter at %d: index after other searches = %d, want %d", boundary, name, at, got, want)
				}
				if got := f.horspool(s); got != want {
					t.Errorf("boundary %q, %s, delimiter at %d: horspool = %d, want %d", boundary, name, at, got, want)
				}
			}
		}
	}
}

// A finder reused for a sequence of searches, as a Reader uses it for the
// reads of a stream (its filter byte carries over from one to the next),
// agrees with bytes.Index on data made of the pieces that steer it: floods
// of delimiter bytes, delimiter prefixes, random bytes, delimiters.
func TestFinderSequenceAgreesWithIndex(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		boundary := rapid.StringMatching(`[a-zA-Z0-9_=Q-]{1,70}`).Draw(t, "boundary")
		pat := []byte("\r\n--" + boundary)
		var f finder
		f.reset(pat, 4)
		for range rapid.IntRange(1, 4).Draw(t, "searches") {
			var s []byte
			for range rapid.IntRange(0, 12).Draw(t, "pieces") {
				n := rapid.IntRange(0, 3*stretch).Draw(t, "n")
				switch rapid.IntRange(0, 4).Draw(t, "kind") {
				case 0: // a flood of one delimiter byte
					s = append(s, bytes.Repeat([]byte{pat[rapid.IntRange(0, len(pat)-1).Draw(t, "byte")]}, n)...)
				case 1: // proper prefixes of the delimiter
					for len(s) < n {
						s = append(s, pat[:rapid.IntRange(1, len(pat)-1).Draw(t, "prefix")]...)
					}
				case 2: // random delimiter bytes
					rng := rand.New(rand.NewPCG(uint64(n), uint64(len(s))))
					for range n {
						s = append(s, pat[rng.IntN(len(pat))])
					}
				case 3: // random bytes
					rng := rand.New(rand.NewPCG(uint64(n), 1))
					for range n {
						s = append(s, byte(rng.Uint32()))
					}
				case 4:
					s = append(s, pat...)
				}
			}
			if got, want := f.index(s), bytes.Index(s, pat); got != want {
				t.Fatalf("index = %d, want %d", got, want)
			}
		}
	})
}

// The finder finds a delimiter at every position around the places where
// it changes course: where its first filter gives up and a count chooses
// another, and where a Horspool stretch ends.
func TestFinderAtEveryTurn(t *testing.T) {
	const boundary = "batch_8HBn0xW2n5Q_AAtqI2hcqFo"
	pat := []byte("\r\n--" + boundary)
	var f finder
	f.reset(pat, 4)
	rng := rand.New(rand.NewPCG(9, 9))
	n := 3 * stretch
	shapes := map[string][]byte{
		"first-byte flood": bytes.Repeat(pat[f.first:f.first+1], n),
		"every byte":       make([]byte, n),
		"prefixes":         bytes.Repeat(pat[:len(pat)-2], n/(len(pat)-2)),
	}
	for i := range shapes["every byte"] {
		shapes["every byte"][i] = pat[rng.IntN(len(pat))]
	}
	var runs []byte // each byte rare, then dense, in turn: counts and look-aheads
	for i := 0; len(runs) < n; i++ {
		runs = append(runs, bytes.Repeat([]byte{boundary[i%len(boundary)]}, 50+i%7*40)...)
	}
	shapes["byte runs"] = runs
	var at []int
	for _, base := range []int{0, stretch, 2 * stretch} {
		for p := max(base-100, 0); p < base+600 && p+len(pat) <= len(shapes["prefixes"]); p++ {
			at = append(at, p)
		}
	}
	for name, shape := range shapes {
		for _, p := range at {
			s := append([]byte(nil), shape...)
			copy(s[p:], pat)
			want := bytes.Index(s, pat)
			var fresh finder
			fresh.reset(pat, 4)
			if got := fresh.index(s); got != want {
				t.Fatalf("%s, delimiter written at %d: index = %d, want %d", name, p, got, want)
			}
		}
	}
}

// After a long stretch without its filter byte, the filter gives up within
// burst+capEvery false hits of a dense run of it, however long the stretch: data made
// of runs of delimiter bytes would otherwise cost a hit per byte of each
// run, as many as the stretch before it earned.
func TestFilterGivesUpInRunAfterQuietStretch(t *testing.T) {
	pat := []byte("\r\n--batch_pK7JBAk73-E_AA5eFwv4m2Q")
	var f finder
	f.reset(pat, 4)
	for _, quiet := range []int{0, 100, 1000, 8000, 60000} {
		s := append(bytes.Repeat([]byte{'x'}, quiet), bytes.Repeat(pat[f.first:f.first+1], 2000)...)
		i, dense, ok := f.filter(s, 0, f.first, false)
		if ok {
			t.Fatalf("quiet %d: the filter did not give up (index %d)", quiet, i)
		}
		// The run's first hit is at s[quiet] (or at s[f.first], the first
		// place a filter byte can be), a delimiter start f.first before it;
		// the last at s[i-1+f.first].
		first := max(quiet, f.first)
		if dense != first-f.first {
			t.Errorf("quiet %d: dense = %d, want %d", quiet, dense, first-f.first)
		}
		if hits := i - 1 + f.first - first + 1; hits > burst+capEvery+1 {
			t.Errorf("quiet %d: gave up after %d hits of the run, want at most %d", quiet, hits, burst+capEvery+1)
		}
	}
}

// A Reader finds a delimiter at every offset in data made of runs of
// boundary bytes after a quiet stretch, including a delimiter split across
// the buffer's refills (reads of 97 bytes from the source), and agrees with
// mime/multipart.
func TestReaderBoundaryByteRuns(t *testing.T) {
	const boundary = "batch_pK7JBAk73-E_AA5eFwv4m2Q"
	var body []byte
	body = append(body, bytes.Repeat([]byte{'x'}, 5000)...)
	for i := 0; len(body) < 14000; i++ {
		body = append(body, bytes.Repeat([]byte{boundary[i%len(boundary)]}, 300)...)
	}
	opts := ReaderOptions{BufferSize: 1, MaxLineBytes: 512}
	for p := 9000; p < 9000+97+40; p++ {
		msg := []byte("--" + boundary + "\r\n\r\n")
		msg = append(msg, body[:p]...)
		msg = append(msg, "\r\n--"+boundary+"\r\n\r\n"...)
		msg = append(msg, body[p:]...)
		msg = append(msg, "\r\n--"+boundary+"--\r\n"...)
		want, err := stdParts(msg, boundary)
		if err != nil || len(want) != 2 {
			t.Fatalf("delimiter at %d: mime/multipart read %d parts, %v", p, len(want), err)
		}
		cuts := make([]int, len(msg)/97+1)
		for k := range cuts {
			cuts[k] = 97
		}
		for name, src := range map[string]io.Reader{"whole": bytes.NewReader(msg), "pieces": &chunkedReader{src: msg, cuts: cuts}} {
			got, err := readParts(src, boundary, opts)
			if err != nil {
				t.Fatalf("delimiter at %d, %s: %v", p, name, err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("delimiter at %d, %s: parts (-want +got):\n%s", p, name, diff)
			}
		}
	}
}

// On data where every byte value is about as likely (compressed or
// encrypted bodies), the filter hands over to the skip scan, which finds a
// delimiter at every position around the places where it changes course:
// the ends of its chains and windows, the end of a stretch, the end of s.
func TestSkipScanAgreesWithIndex(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	random := make([]byte, skipStretch+3*skipMax)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	for _, boundary := range []string{"batch_pK7JBAk73-E_AA5eFwv4m2Q", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "xxxxxxxxxxxxxxxxxxxx"} {
		pat := []byte("\r\n--" + boundary)
		var f finder
		f.reset(pat, 4)
		if _, dense, ok := f.filter(random, 0, f.cur, true); ok || dense != -1 {
			t.Fatalf("boundary %q: the filter did not hand random data to a skip scan (dense %d, ok %v)", boundary, dense, ok)
		}
		// The windows of the first scan, from 0: chains of skipFirst
		// bytes, doubling.
		var turns []int
		for base, w := 0, skipFirst; base < len(random); base, w = base+4*w, min(2*w, skipMax) {
			for j := range 5 {
				turns = append(turns, base+j*w)
			}
		}
		turns = append(turns, skipStretch, len(random)-len(pat), len(random)-len(pat)+1)
		for _, turn := range turns {
			for p := max(turn-len(pat)-2, 0); p <= turn+2 && p <= len(random); p++ {
				// The delimiter written over the random bytes at p, or
				// its start at the end of s; restored after.
				s := random[:min(len(random), p+len(pat))]
				saved := append([]byte(nil), s[p:]...)
				copy(s[p:], pat)
				want := bytes.Index(s, pat)
				k, status := f.skipScan(s, 0)
				switch {
				case status == skipDone && k != want:
					t.Fatalf("boundary %q, delimiter at %d: skipScan = %d, want %d", boundary, p, k, want)
				case status == skipShort && (want < 0 || k > want):
					// Short shifts are possible only in the delimiter
					// (a boundary of one repeated byte).
					t.Fatalf("boundary %q, delimiter at %d: skipScan gave up on random data at %d", boundary, p, k)
				case status == skipLong && (k < skipStretch || want >= 0 && k > want):
					t.Fatalf("boundary %q, delimiter at %d: skipScan stopped at %d, want past %d and at most %d", boundary, p, k, skipStretch, want)
				}
				if got := f.index(s); got != want {
					t.Fatalf("boundary %q, delimiter at %d: index = %d, want %d", boundary, p, got, want)
				}
				copy(s[p:], saved)
			}
		}
	}
}

// On data full of the delimiter's bytes, where its shifts are short, the
// skip scan gives up after at most a block of steps per chain, at a
// position before which no delimiter starts; and the finder, which then
// goes back to its filter, still agrees with bytes.Index.
func TestSkipScanGivesUpOnShortShifts(t *testing.T) {
	pat := []byte("\r\n--batch_pK7JBAk73-E_AA5eFwv4m2Q")
	var f finder
	f.reset(pat, 4)
	rng := rand.New(rand.NewPCG(13, 14))
	// Runs of random bytes and of delimiter bytes: the filter hands over
	// in a run of the first, the skip scan gives up in a run of the
	// second.
	var s []byte
	for len(s) < 1<<20 {
		n := 1 + rng.IntN(8<<10)
		for range n {
			if len(s)/(8<<10)%2 == 0 {
				s = append(s, byte(rng.Uint32()))
			} else {
				s = append(s, pat[rng.IntN(len(pat))])
			}
		}
	}
	flood := bytes.Repeat(pat[len(pat)-2:len(pat)-1], 1<<16) // shifts of one
	if k, status := f.skipScan(flood, 0); status != skipShort || k > 4*skipBlock {
		t.Errorf("flood of the delimiter's next-to-last byte: skipScan = %d, %d; want a give-up within %d bytes", k, status, 4*skipBlock)
	}
	for _, p := range []int{-1, 1000, 8 << 10, 9 << 10, 100 << 10, 1<<20 - 100} {
		d := s
		if p >= 0 {
			d = append([]byte(nil), s...)
			copy(d[p:], pat)
		}
		want := bytes.Index(d, pat)
		for from := 0; from < len(d); {
			k, status := f.skipScan(d, from)
			if status == skipDone {
				if k != want {
					t.Fatalf("delimiter at %d, from %d: skipScan = %d, want %d", p, from, k, want)
				}
				break
			}
			if k <= from && status == skipLong || k < from || want >= 0 && k > want {
				t.Fatalf("delimiter at %d, from %d: skipScan stopped at %d (%d), want a position in [%d, %d]", p, from, k, status, from, want)
			}
			from = max(k, from+1)
		}
		var fresh finder
		fresh.reset(pat, 4)
		if got := fresh.index(d); got != want {
			t.Fatalf("delimiter at %d: index = %d, want %d", p, got, want)
		}
	}
}

// Data made of windows that start and end as the delimiter does (CR, then
// bytes of no delimiter, then its last byte, which shifts the skip scan by
// the whole delimiter), with the filter byte once in a few hundred bytes so
// that the filter hands over: each window costs a comparison, and the skip
// scan counts them, giving up within a block.
func TestSkipScanGivesUpOnNearWindows(t *testing.T) {
	pat := []byte("\r\n--Qbatch_pK7JBAk73-E_AA5eFwv4m2x")
	var f finder
	f.reset(pat, 4)
	m := len(pat)
	if f.first == m-1 {
		t.Fatal("the filter byte is the delimiter's last byte")
	}
	block := append(append([]byte{'\r'}, bytes.Repeat([]byte{0xff}, m-2)...), pat[m-1])
	var s []byte
	for k := 0; len(s) < 1<<20; k++ {
		s = append(s, block...)
		if k%6 == 0 {
			s[len(s)-m/2] = pat[f.first]
		}
	}
	if _, dense, ok := f.filter(s, 0, f.cur, true); ok || dense != -1 {
		t.Fatalf("the filter did not hand over to a skip scan (dense %d, ok %v)", dense, ok)
	}
	if k, status := f.skipScan(s, 0); status != skipShort || k > 4*skipBlock*skipMinShift {
		t.Errorf("skipScan = %d, %d; want a give-up within %d bytes", k, status, 4*skipBlock*skipMinShift)
	}
	for _, p := range []int{-1, 5000, len(s) - m} {
		d := s
		if p >= 0 {
			d = append([]byte(nil), s...)
			copy(d[p:], pat)
		}
		var fresh finder
		fresh.reset(pat, 4)
		if got, want := fresh.index(d), bytes.Index(d, pat); got != want {
			t.Fatalf("delimiter at %d: index = %d, want %d", p, got, want)
		}
	}
}

// A finder whose first filter byte is common in the data, without being
// dense (a letter of the boundary that each body holds twice), switches
// to a byte of the delimiter that the data lacks, and finds every
// delimiter as bytes.Index does before and after.
func TestFinderReviewSwitches(t *testing.T) {
	const boundary = "batch_GOMozbDceUiJkwfCeHo28pGmhwRG5o50"
	pat := []byte("\r\n--" + boundary)
	var f finder
	f.reset(pat, 4)
	first := pat[f.cur]
	body := strings.Repeat("some text, ", 20) + string(first) + strings.Repeat("more text ", 20) + string(first)
	var in []byte
	for in = nil; len(in) < 8*reviewEvery; {
		in = append(in, body...)
		in = append(in, pat...)
		in = append(in, "\r\n"...)
	}
	indexEvery(t, &f, in, pat)
	if c := pat[f.cur]; c == first || bytes.IndexByte([]byte(body), c) >= 0 {
		t.Errorf("filter byte %q after the reads, want one absent from the bodies (not %q)", c, first)
	}
}

// On random bodies, where no byte of the delimiter is much rarer than
// another, the reviews find nothing better, or switch in vain, and back
// off: the stretch between them grows.
func TestFinderReviewBacksOff(t *testing.T) {
	pat := []byte("\r\n--batch_GOMozbDceUiJkwfCeHo28pGmhwRG5o50")
	var f finder
	f.reset(pat, 4)
	rng := rand.New(rand.NewPCG(1, 2))
	var in []byte
	for len(in) < 64*reviewEvery {
		for range 500 {
			in = append(in, byte(rng.Uint32()))
		}
		in = append(in, pat...)
	}
	indexEvery(t, &f, in, pat)
	if f.every < 16*reviewEvery {
		t.Errorf("%d bytes between reviews after %d bytes of random data, want at least %d", f.every, len(in), 16*reviewEvery)
	}
}

// indexEvery has f find every occurrence of pat in in, one search after
// another as a Reader makes them, each checked against bytes.Index.
func indexEvery(t *testing.T, f *finder, in, pat []byte) {
	t.Helper()
	for from := 0; ; {
		got, want := f.index(in[from:]), bytes.Index(in[from:], pat)
		if got != want {
			t.Fatalf("index from %d = %d, want %d", from, got, want)
		}
		if got < 0 {
			return
		}
		from += got + 1
	}
}
