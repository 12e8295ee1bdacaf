package main

import (
	"bytes"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/mixedcodec/mixed"
)

// Helpers shared by the tests of several files: running the command,
// reading its JSON lines, reading batch responses with the codec, and
// generated inputs.

// cmdResult is what one run of the command did.
type cmdResult struct {
	Code   int
	Stdout string
	Stderr string
}

// runCmd runs the command with args and stdin.
func runCmd(stdin string, args ...string) cmdResult {
	var out, errb bytes.Buffer
	code := run(args, strings.NewReader(stdin), &out, &errb)
	return cmdResult{code, out.String(), errb.String()}
}

// lines decodes JSON lines into generic values for comparison.
func lines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	dec := json.NewDecoder(strings.NewReader(s))
	for dec.More() {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("output %q: %v", s, err)
		}
		out = append(out, m)
	}
	return out
}

// parts returns the part lines of decode's output: the lines after the
// envelope line, which it checks is first.
func parts(t *testing.T, s string) []map[string]any {
	t.Helper()
	l := lines(t, s)
	if len(l) == 0 {
		return nil
	}
	if l[0]["kind"] != "envelope" {
		t.Errorf("first line %v is not the envelope", l[0])
		return l
	}
	for _, m := range l[1:] {
		if _, ok := m["kind"]; ok {
			t.Errorf("line %v has a kind", m)
		}
	}
	return l[1:]
}

// mustRead returns the contents of the file name.
func mustRead(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// seedPart is a response part reduced to what the documentation shows:
// JSON bodies compared as values.
type seedPart struct {
	ContentID string
	Status    int
	ETag      string
	JSON      any
}

// responseParts reads a batch response with the codec.
func responseParts(t *testing.T, resp *http.Response) []seedPart {
	t.Helper()
	b, err := mixed.ParseBoundary(resp.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	r := mixed.NewReader(resp.Body, b)
	var out []seedPart
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		m, err := mixed.NewMessageReader(p).ReadResponse("")
		if err != nil {
			t.Fatal(err)
		}
		sp := seedPart{ContentID: p.Header.Get("Content-ID"), Status: m.StatusCode, ETag: m.Header.Get("ETag")}
		body, err := io.ReadAll(m.Body)
		if err != nil {
			t.Fatal(err)
		}
		if len(body) > 0 {
			if err := json.Unmarshal(body, &sp.JSON); err != nil {
				t.Fatalf("body %q: %v", body, err)
			}
		}
		out = append(out, sp)
	}
}

// csPart is a response part of a batch with changesets.
type csPart struct {
	ContentID string
	Status    int
	Location  string
	Parts     []csPart
}

// changesetParts reads a batch response, changesets included, with the
// codec.
func changesetParts(t *testing.T, body io.Reader, boundary string) []csPart {
	t.Helper()
	r := mixed.NewReader(body, boundary)
	var out []csPart
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		cp := csPart{ContentID: p.Header.Get("Content-ID")}
		if ct := p.Header.Get("Content-Type"); strings.HasPrefix(ct, "multipart/mixed") {
			b, err := mixed.ParseBoundary(ct)
			if err != nil {
				t.Fatal(err)
			}
			cp.Parts = changesetParts(t, p, b)
		} else {
			m, err := mixed.NewMessageReader(p).ReadResponse("")
			if err != nil {
				t.Fatal(err)
			}
			cp.Status, cp.Location = m.StatusCode, m.Header.Get("Location")
		}
		out = append(out, cp)
	}
}

// pieces splits b into pieces of pseudo-random lengths (from 0 to 9, so
// that UTF-8 sequences, escapes and base64 quads are cut everywhere).
func pieces(b []byte, seed uint64) [][]byte {
	r := rand.New(rand.NewPCG(seed, 1))
	var out [][]byte
	for len(b) > 0 {
		n := min(r.IntN(10), len(b))
		out = append(out, b[:n])
		b = b[n:]
	}
	return out
}

// checkOnePrefix fails when a line of stderr repeats the command's prefix.
func checkOnePrefix(t *testing.T, stderr string) {
	t.Helper()
	for _, l := range strings.Split(stderr, "\n") {
		if strings.Count(l, "mixed: ") > 1 {
			t.Errorf("stderr line %q has more than one prefix", l)
		}
	}
}

// randomBytes returns n deterministic pseudo-random bytes.
func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 0))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// textBytes returns n bytes of valid UTF-8 text with escapes and multi-byte
// characters, some of them across any piece boundary.
func textBytes(n int) []byte {
	const line = "héllo \"wörld\"\t<&> \u2028 日本語 \\ 🎉\r\n"
	b := []byte(strings.Repeat(line, n/len(line)+1)[:n])
	for !utf8.Valid(b) { // a character cut at the end: spaces instead
		i := len(b) - 1
		for b[i] < 0xc0 && b[i] >= 0x80 {
			i--
		}
		for ; i < len(b); i++ {
			b[i] = ' '
		}
	}
	return b
}

// memBoundary is long enough that the pseudo-random bodies never hold
// its delimiter.
const memBoundary = "memory-test-boundary-7f3a9c1e5b"

// writeBody writes n bytes of the repeated block to w, and returns the
// error of the first write that fails.
func writeBody(w io.Writer, n int64) error {
	for n > 0 {
		k, err := w.Write(block[:min(int64(len(block)), n)])
		if err != nil {
			return err
		}
		n -= int64(k)
	}
	return nil
}

// block is the 64 KiB of pseudo-random bytes that a large body repeats.
var block = randomBytes(3, 64<<10)

// bareBody is a batch body without an HTTP envelope: a request, a text part
// that is not UTF-8, and a changeset.
const bareBody = "--b\r\nContent-Type: application/http\r\nContent-ID: 1\r\n\r\nGET /farm/v1/animals/pony\r\n\r\n" +
	"--b\r\nContent-Type: text/plain\r\n\r\n\xff\xfe\r\n" +
	"--b\r\nContent-Type: multipart/mixed; boundary=cs\r\n\r\n--cs\r\nContent-Type: application/http\r\nContent-ID: 2\r\n\r\nPOST Customers HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}\r\n--cs--\r\n" +
	"--b--\r\n"

// pipe runs the commands one after the other, each given the output of
// the one before, and returns the last one's output.
func pipe(t *testing.T, in string, cmds ...[]string) string {
	t.Helper()
	for _, args := range cmds {
		res := runCmd(in, args...)
		if res.Code != 0 {
			t.Fatalf("%s: exit %d: %s\ninput:\n%s", strings.Join(args, " "), res.Code, res.Stderr, in)
		}
		in = res.Stdout
	}
	return in
}

// peakHeap runs f while it samples HeapInuse every 10 ms, and returns the
// highest value seen.
func peakHeap(f func()) uint64 {
	runtime.GC()
	var peak atomic.Uint64
	sample := func() {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		if m.HeapInuse > peak.Load() {
			peak.Store(m.HeapInuse)
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				sample()
			}
		}
	}()
	f()
	close(stop)
	wg.Wait()
	sample()
	return peak.Load()
}
