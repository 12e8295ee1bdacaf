package batch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"
)

// jsonScanCases are JSON and near-JSON documents, each a corner of the
// grammar or of encoding/json's reading of it.
var jsonScanCases = []string{
	// Objects whose members the scanner notes: nested values, empty
	// ones, white space everywhere, escaped keys, one member too many.
	` { "a" : { "b" : [ 1 , { "c" : 2 } ] } , "d":[],"e":{} ,"f":"x\"y", "\u0067":-1.5e3 ,"h":null , "i" : true } `,
	`{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10,"k":11,"l":12,"m":13,"n":14,"o":15,"p":16}`,
	`{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10,"k":11,"l":12,"m":13,"n":14,"o":15,"p":16,"q":17}`,
	`[{"a":1},{"b":2}]`, `{"a":{"b":{"c":{}}},"a":[[[]]]}`,
	`0`, `-0`, `1`, `-1`, `10`, `01`, `-`, `-a`, `1.`, `1.5`, `1.x`, `1e`, `1e+`, `1e-5`, `1E5`, `1e5.`, `.5`, `+1`,
	`2.50e+10`, `0.0`, `00`, `-01`, `1ee`, `1e+-2`,
	`true`, `false`, `null`, `tru`, `trux`, `nul`, `nulL`, `fals`, `True`,
	`""`, `"a"`, `"\""`, `"\\"`, `"\/"`, `"\b\f\n\r\t"`, `"\u00e9"`, `"\u00E9"`, `"\u00g9"`, `"\u12"`, `"\x"`, `"\`,
	`"` + "\x01" + `"`, `"` + "\x1f" + `"`, `"` + "\x7f" + `"`, `"` + "\xff\xfe" + `"`, `"h\u00e9llo \ud83d\ude00"`, `"\ud800"`,
	`"` + strings.Repeat("x", 100) + `"`, `"` + strings.Repeat("x", 7) + `\"` + strings.Repeat("y", 9) + `"`,
	`"abc`, `"abcdefghijklmnop`, `'a'`,
	`{}`, `[]`, `{ }`, `[ ]`, "{\n}", `{"a":1}`, `{"a" : 1 , "b":[1,2,{"c":null}]}`, `[1,2,3]`, `[1,]`, `[,1]`, `{"a":1,}`,
	`{,}`, `{"a"}`, `{"a":}`, `{"a" 1}`, `{1:2}`, `{"a":1 "b":2}`, `[1 2]`, `[`, `{`, `{"a":[`, `[[[]]]`, `[[[]]`, `]`, `}`,
	`{"a":1}}`, `[1]]`, `{"requests":[{"id":"1","method":"GET","url":"/x","headers":{"A":"b"},"body":{"k":[true,false,null,1.5e3]}}]}`,
	` 1`, `1 `, "\t[\r\n1\n]\t", "\ufeff{}", `x`, `@`, "\x00", ``, ` `,
	strings.Repeat("[", 70) + strings.Repeat("]", 70),
	strings.Repeat(`{"a":`, 70) + `1` + strings.Repeat("}", 70),
}

// TestJSONScanAgreesWithEncodingJSON: the scanner takes a document as
// json.Valid does, refuses it in the same words as json.Unmarshal, and,
// nesting aside, finds the end of its first value where json.Decoder does.
func TestJSONScanAgreesWithEncodingJSON(t *testing.T) {
	for _, doc := range jsonScanCases {
		checkJSONScan(t, []byte(doc))
	}
}

func TestJSONScanProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) { checkJSONScan(t, nearJSON(t)) })
}

// nearJSON draws a JSON document and perhaps breaks it a little.
func nearJSON(t *rapid.T) []byte {
	b := appendJSONish(nil, t, 0)
	for n := rapid.IntRange(0, 3).Draw(t, "mutations"); n > 0 && len(b) > 0; n-- {
		i := rapid.IntRange(0, len(b)-1).Draw(t, "at")
		c := rapid.SampledFrom([]byte(`{}[]",:\ 0-.eE+tfnu`+"\x00\x1f\x7f\xc3\xff\n")).Draw(t, "byte")
		switch rapid.IntRange(0, 2).Draw(t, "how") {
		case 0:
			b = append(b[:i:i], append([]byte{c}, b[i:]...)...)
		case 1:
			b = append(b[:i:i], b[i+1:]...)
		default:
			b[i] = c
		}
	}
	return b
}

// appendJSONish appends a JSON value of any kind, white space around its
// parts, strings with escapes and UTF-8, numbers of every form.
func appendJSONish(b []byte, t *rapid.T, depth int) []byte {
	space := func() {
		b = append(b, rapid.SampledFrom([]string{"", "", "", " ", "\n\t ", "\r\n"}).Draw(t, "space")...)
	}
	str := func() {
		b = append(b, '"')
		for n := rapid.IntRange(0, 12).Draw(t, "chars"); n > 0; n-- {
			b = append(b, rapid.SampledFrom([]string{"a", "Z", " ", "é", "😀", `\"`, `\\`, `\/`, `\n`, `\u00e9`, `\uD83D\uDE00`, "\xff", "~", "xxxxxxxx"}).Draw(t, "char")...)
		}
		b = append(b, '"')
	}
	kind := rapid.IntRange(0, 6).Draw(t, "kind")
	if depth > 4 {
		kind %= 4
	}
	switch kind {
	case 0:
		str()
	case 1:
		b = append(b, rapid.SampledFrom([]string{"0", "-0", "1", "-12", "3.25", "1e9", "-2.5E-3", "10e+2", "0.000"}).Draw(t, "number")...)
	case 2:
		b = append(b, rapid.SampledFrom([]string{"true", "false", "null"}).Draw(t, "literal")...)
	case 3:
		str()
	case 4, 5:
		b = append(b, '[')
		for i := range rapid.IntRange(0, 4).Draw(t, "elements") {
			if i > 0 {
				b = append(b, ',')
			}
			space()
			b = appendJSONish(b, t, depth+1)
			space()
		}
		b = append(b, ']')
	default:
		b = append(b, '{')
		for i := range rapid.IntRange(0, 4).Draw(t, "members") {
			if i > 0 {
				b = append(b, ',')
			}
			space()
			str()
			space()
			b = append(b, ':')
			space()
			b = appendJSONish(b, t, depth+1)
			space()
		}
		b = append(b, '}')
	}
	return b
}

// checkJSONScan holds the scanner to encoding/json on doc: validJSON is
// json.Valid; a refusal is json.Unmarshal's, in its words; the end of the
// first value is json.Decoder's, and jsonStream finds the same values as
// the Decoder however the document arrives.
func checkJSONScan(t fatalT, doc []byte) {
	t.Helper()
	var s jsonScanner
	if got, want := s.validJSON(doc, jsonMaxNesting), json.Valid(doc); got != want {
		t.Fatalf("%q: validJSON %t, json.Valid %t", doc, got, want)
	}
	i := skipSpace(doc, 0)
	n, err := s.scan(doc[i:], true, jsonMaxNesting)
	// Into a RawMessage, which json.Unmarshal checks as JSON and no
	// more: into an any, a number out of float64's range (1E700) is
	// refused, though it is JSON.
	var v json.RawMessage
	uerr := json.Unmarshal(doc[i:min(i+n, len(doc))], &v)
	switch {
	case err == nil && uerr != nil:
		t.Fatalf("%q: scanned %d bytes, which json.Unmarshal refuses: %v", doc, n, uerr)
	case err != nil:
		var se *jsonSyntaxError
		if !errors.As(err, &se) {
			t.Fatalf("%q: %v is not a *jsonSyntaxError", doc, err)
		}
		var jse *json.SyntaxError
		if uerr := json.Unmarshal(doc[i:], &v); !errors.As(uerr, &jse) {
			t.Fatalf("%q: the scanner refuses it (%v), json.Unmarshal says %v", doc, err, uerr)
		} else if se.msg != jse.Error() || se.Offset+int64(i) < int64(len(doc)) && se.Offset != jse.Offset-1 {
			t.Fatalf("%q: the scanner says %q at %d, json.Unmarshal %q at %d (after the white space)", doc, se.msg, se.Offset, jse.Error(), jse.Offset-1)
		}
	}
	// plain: no escape, nothing but ASCII (which is all a valid value
	// holds outside its strings).
	if err == nil && s.plain {
		for _, c := range doc[i : i+n] {
			if c == '\\' || c >= 0x80 {
				t.Fatalf("%q: plain, with %q in it", doc, c)
			}
		}
	}
	// The members of an object, where encoding/json's Decoder finds them.
	if err == nil {
		checkTopMembers(t, doc[i:i+n], s.topMembers())
	}
	// Nesting, as checkDepth counts it.
	if err == nil {
		for max := range 4 {
			_, derr := s.scan(doc[i:], true, max)
			if want := checkDepth(doc[i:i+n], max); (derr == nil) != (want == nil) || derr != nil && !errors.Is(derr, ErrJSONTooDeep) {
				t.Fatalf("%q, %d levels: scan %v, checkDepth %v", doc, max, derr, want)
			}
		}
	}
	// The values of the document, one after another, as the Decoder
	// reads them and as a jsonStream does, through awkward readers.
	want, wantErr := decoderValues(doc)
	for name, r := range map[string]io.Reader{
		"whole":    bytes.NewReader(doc),
		"one byte": iotest.OneByteReader(bytes.NewReader(doc)),
		"half":     iotest.HalfReader(bytes.NewReader(doc)),
		"data+err": iotest.DataErrReader(bytes.NewReader(doc)),
	} {
		got, gotErr := streamValues(r)
		if diff := cmp.Diff(want, got); diff != "" || (wantErr == nil) != (gotErr == nil) {
			t.Fatalf("%q, %s: the stream's values and error (%v) are not the Decoder's (%v) (-want +got):\n%s", doc, name, gotErr, wantErr, diff)
		}
	}
}

// checkTopMembers checks members, what jsonScanner noted of the value v it
// scanned, against the members of v as a json.Decoder reads them: none
// (nil) unless v is an object of at most maxTopMembers members, and then
// each key and value where the Decoder has them, in order.
func checkTopMembers(t fatalT, v []byte, members []memberSpan) {
	t.Helper()
	want, isObject := jsonMembers(v)
	if !isObject || len(want) > maxTopMembers {
		if members != nil {
			t.Fatalf("%q: %d members noted, want none (an object: %t, of %d members)", v, len(members), isObject, len(want))
		}
		return
	}
	if members == nil || len(members) != len(want) {
		t.Fatalf("%q: %d members noted (nil: %t), want %d", v, len(members), members == nil, len(want))
	}
	for k, m := range members {
		var key string
		if err := json.Unmarshal(v[m.key:stringEnd(v, m.key)], &key); err != nil || key != want[k].key || string(v[m.start:m.end]) != string(want[k].value) {
			t.Fatalf("%q: member %d noted as %q: %q (%v), want %q: %q", v, k, v[m.key:stringEnd(v, m.key)], v[m.start:m.end], err, want[k].key, want[k].value)
		}
	}
}

// decoderValues are the values json.Decoder reads from doc, up to its
// end or an error.
func decoderValues(doc []byte) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	var out []string
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			if err == io.EOF {
				return out, nil
			}
			return out, err
		}
		out = append(out, string(raw))
	}
}

// streamValues are the values a jsonStream reads from r.
func streamValues(r io.Reader) ([]string, error) {
	var s jsonStream
	s.reset(r)
	var out []string
	for {
		s.setMark(1 << 20)
		if _, err := s.peek(); err != nil {
			if err == io.EOF {
				return out, nil
			}
			return out, err
		}
		v, err := s.value(jsonMaxNesting)
		if err != nil {
			return out, err
		}
		out = append(out, string(v))
	}
}

// The scanner counts nesting and refuses a value deeper than it is told,
// with ErrJSONTooDeep, as checkDepth does.
func TestJSONScanDepth(t *testing.T) {
	var s jsonScanner
	for _, doc := range jsonScanCases {
		for max := 0; max < 8; max++ {
			i := skipSpace([]byte(doc), 0)
			_, err := s.scan([]byte(doc[i:]), true, max)
			if err != nil && !errors.Is(err, ErrJSONTooDeep) {
				continue // not JSON
			}
			want := checkDepth([]byte(doc), max)
			if (err == nil) != (want == nil) {
				t.Errorf("%q, %d levels: scan %v, checkDepth %v", doc, max, err, want)
			}
		}
	}
	deep := strings.Repeat("[", jsonMaxNesting+1) + strings.Repeat("]", jsonMaxNesting+1)
	_, err := s.scan([]byte(deep), true, jsonMaxNesting+5)
	var jse *json.SyntaxError
	if json.Unmarshal([]byte(deep), new(any)); err == nil || errors.Is(err, ErrJSONTooDeep) || !errors.As(json.Unmarshal([]byte(deep), new(any)), &jse) || !strings.HasPrefix(err.Error(), jse.Error()) {
		t.Errorf("%d levels: %v, want encoding/json's %v", jsonMaxNesting+1, err, jse)
	}
}

// Scanning allocates nothing once the scanner's stack has grown, and a
// jsonStream reads a document through its buffer, kept from one to the
// next.
func TestJSONScanAllocs(t *testing.T) {
	doc := []byte(`{"requests":[{"id":"1","method":"GET","url":"/a","headers":{"A":["b"]},"body":{"k":[1,2.5,"\u00e9",[[{}]]]}}]}`)
	var s jsonScanner
	if n := testing.AllocsPerRun(100, func() {
		if _, err := s.scan(doc, true, 64); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("scan: %.1f allocations", n)
	}
	var js jsonStream
	var r bytes.Reader
	if n := testing.AllocsPerRun(100, func() {
		r.Reset(doc)
		js.reset(&r)
		js.setMark(1 << 20)
		if _, err := js.value(64); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("jsonStream: %.1f allocations", n)
	}
}

// A value that arrives a byte at a time is scanned again only once what
// has arrived has doubled: the bytes looked at stay within a few times
// its size (each Read giving one more byte, a scan per Read would look at
// n²/2 of them), and what is read ahead stops at the mark's limit.
func TestJSONStreamTrickleIsLinear(t *testing.T) {
	for _, size := range []int{100, 10_000, 1 << 20} {
		doc := []byte(`{"a":"` + strings.Repeat("x", size) + `"}`)
		var s jsonStream
		s.reset(iotest.OneByteReader(bytes.NewReader(doc)))
		s.setMark(int64(len(doc)))
		v, err := s.value(64)
		if err != nil || !bytes.Equal(v, doc) {
			t.Fatalf("%d bytes: %v, %d bytes read", size, err, len(v))
		}
		if s.scan.scanned > int64(4*len(doc)+4096) {
			t.Errorf("%d bytes: the scanner looked at %d bytes", len(doc), s.scan.scanned)
		}
	}
	// A value past the limit is refused having read the limit and a
	// little more, not the rest.
	big := strings.NewReader(`"` + strings.Repeat("x", 1<<20))
	var s jsonStream
	s.reset(big)
	s.setMark(1000)
	if _, err := s.value(64); !errors.Is(err, errObjectTooLarge) {
		t.Errorf("a value over the limit: %v", err)
	}
	if read := (1<<20 + 1) - big.Len(); read > 1000+4096 {
		t.Errorf("%d bytes read for a limit of 1000", read)
	}
}

// A JSON batch read through any reader is read the same: the calls, their
// ids and order, or the same kind of refusal.
func TestJSONBatchAnyChunking(t *testing.T) {
	bodies := []string{
		string(jsonBatchOf(20, 0)),
		string(jsonBatchOf(5, 300)),
		`{"x":[1,{"y":"z"}],"requests":[{"id":"1","method":"GET","url":"/a"}],"@odata.z":null}`,
		`{"requests":[]}`,
		`{}`,
		`{"requests":[{"id":"1","method":"GET","url":"/a"},]}`,
		`{"requests":[{"id":"1","method":"GET","url":"/a"}] }  ` + "\n",
		`{"requests":[{"id":"1","method":"GET","url":"/a"}]} x`,
		`{"requests":[{"id":"1","method":"GET","url":"/a"}]`,
		` {"requests" : [ {"id":"1","method":"GET","url":"/a"} , {"id":2,"method":"GET","url":"/b"} ] , "requests2":1} `,
	}
	h := NewHandler(trivial)
	for _, body := range bodies {
		want := readJSONSummary(t, h, strings.NewReader(body))
		rng := rand.New(rand.NewPCG(1, uint64(len(body))))
		for name, r := range map[string]io.Reader{
			"one byte": iotest.OneByteReader(strings.NewReader(body)),
			"half":     iotest.HalfReader(strings.NewReader(body)),
			"data+err": iotest.DataErrReader(strings.NewReader(body)),
			"random":   &randomChunks{r: strings.NewReader(body), rng: rng},
		} {
			got := readJSONSummary(t, h, r)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%.40q, %s (-whole +chunked):\n%s", body, name, diff)
			}
		}
	}
}

// readJSONSummary reads body as a Graph JSON batch: the status and
// whether it failed, and each call's id, request and error.
func readJSONSummary(t *testing.T, h *Handler, body io.Reader) []string {
	t.Helper()
	st := &batchState{format: FormatGraphJSON}
	req, _ := http.NewRequest("POST", "http://x.example/$batch", nil)
	status, err := h.readJSON(st, body, req)
	out := []string{fmt.Sprintf("status %d, failed %t", status, err != nil)}
	if err != nil {
		return out
	}
	for _, c := range st.calls {
		out = append(out, fmt.Sprintf("%q %q %v", c.cid, c.raw, c.err))
	}
	return out
}

// plainOf is what the scanner says of the strings of doc, a JSON value
// (jsonScanner.plain), which the readers of request objects rely on.
func plainOf(doc []byte) bool {
	var s jsonScanner
	i := skipSpace(doc, 0)
	_, err := s.scan(doc[i:], true, jsonMaxNesting)
	return err == nil && s.plain
}

// fatalT is what checkJSONScan needs of a *testing.T or a *rapid.T.
type fatalT interface {
	Helper()
	Fatalf(format string, args ...any)
}

// randomChunks reads r in chunks of random sizes, from 1 to 64 bytes.
type randomChunks struct {
	r   io.Reader
	rng *rand.Rand
}

func (c *randomChunks) Read(p []byte) (int, error) {
	return c.r.Read(p[:min(len(p), 1+c.rng.IntN(64))])
}

// A source that returns no bytes and no error now and then is read on, as
// bufio.Reader reads it; one that never returns anything else ends the
// document with io.ErrNoProgress rather than a loop for ever.
func TestJSONStreamEmptyReads(t *testing.T) {
	doc := `{"a":[1,2,"x"]}`
	var s jsonStream
	s.reset(&emptyReads{r: strings.NewReader(doc), every: 3})
	s.setMark(1 << 20)
	if v, err := s.value(64); err != nil || string(v) != doc {
		t.Errorf("value: %q, %v", v, err)
	}
	s.reset(noBytes{})
	s.setMark(1 << 20)
	if _, err := s.value(64); !errors.Is(err, io.ErrNoProgress) {
		t.Errorf("a reader that never gives anything: %v", err)
	}
}

// noBytes is a source that returns (0, nil) for ever.
type noBytes struct{}

func (noBytes) Read([]byte) (int, error) { return 0, nil }

// emptyReads returns (0, nil) but on each every-th call, when it reads r.
type emptyReads struct {
	r     io.Reader
	every int
	n     int
}

func (e *emptyReads) Read(p []byte) (int, error) {
	if e.n++; e.n%e.every != 0 {
		return 0, nil
	}
	return e.r.Read(p[:min(len(p), 2)])
}

// emptyRuns answers (0, nil) before each of r's reads, as io.Reader
// allows ("nothing happened"), 99 times in a row when many is set.
type emptyRuns struct {
	r     io.Reader
	many  bool
	empty int
}

func (e *emptyRuns) Read(p []byte) (int, error) {
	if n := 1 + 98*btoi(e.many); e.empty < n {
		e.empty++
		return 0, nil
	}
	e.empty = 0
	return e.r.Read(p)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// badCount returns a count no Read may return, once r has given a few
// bytes.
type badCount struct {
	r     io.Reader
	n     int
	reads int
}

func (b *badCount) Read(p []byte) (int, error) {
	if b.reads++; b.reads == 3 {
		return b.n, nil
	}
	return b.r.Read(p[:min(len(p), 5)])
}

// A JSON batch reads the same through a body whose Read returns (0, nil)
// at times, as encoding/json's Decoder and bufio.Reader read it (up to
// 99 in a row), and one that makes no progress in 100, or returns a
// count out of range, is a 400, not a spin or a panic.
func TestJSONBatchOddReaders(t *testing.T) {
	h := NewHandler(trivial)
	body := string(jsonBatchOf(5, 300))
	want := readJSONSummary(t, h, strings.NewReader(body))
	if want[0] != "status 0, failed false" {
		t.Fatalf("the batch read whole: %q", want)
	}
	for _, many := range []bool{false, true} {
		got := readJSONSummary(t, h, &emptyRuns{r: iotest.HalfReader(strings.NewReader(body)), many: many})
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("empty reads (%d in a row) (-whole +got):\n%s", 1+98*btoi(many), diff)
		}
	}
	type result struct {
		Status int
		Failed bool
	}
	for name, r := range map[string]io.Reader{
		"100 empty reads": &emptyRuns{r: strings.NewReader(body), many: true, empty: -1},
		"too many":        &badCount{r: strings.NewReader(body), n: 1 << 20},
		"negative":        &badCount{r: strings.NewReader(body), n: -3},
		"one too many":    &badCount{r: strings.NewReader(body), n: 4097},
	} {
		var got result
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Errorf("%s: panic %v", name, p)
				}
			}()
			st := &batchState{format: FormatGraphJSON}
			req, _ := http.NewRequest("POST", "http://x.example/$batch", nil)
			status, err := h.readJSON(st, r, req)
			got = result{status, err != nil}
			if err != nil && !errors.Is(err, ErrJSONBatch) {
				t.Errorf("%s: %v is not an ErrJSONBatch", name, err)
			}
		}()
		if diff := cmp.Diff(result{http.StatusBadRequest, true}, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
}

// MaxPartBytes bounds each value of a JSON batch, a request object or a
// value of the envelope, by its own bytes wherever it stands: first or
// after a comma, indented or not, with white space after it; and the
// white space between two values by as much again.
func TestJSONBatchPartLimitExact(t *testing.T) {
	const limit = 200
	h := NewHandlerOptions(trivial, HandlerOptions{MaxPartBytes: limit})
	// object is a request object of n bytes, str a string value of n.
	object := func(id string, n int) string {
		o := `{"id":"` + id + `","method":"GET","url":"/a"}`
		return o[:len(o)-2] + strings.Repeat("x", n-len(o)) + `"}`
	}
	str := func(n int) string { return `"` + strings.Repeat("s", n-2) + `"` }
	sp := func(n int) string { return strings.Repeat(" ", n) }
	for _, over := range []int{0, 1} {
		n := limit + over
		for name, body := range map[string]string{
			"first":        `{"requests":[` + object("1", n) + `]}`,
			"later":        `{"requests":[` + object("1", limit) + `,` + object("2", n) + `]}`,
			"indented":     "{\n  \"requests\": [\n    " + object("1", limit) + ",\n    " + object("2", n) + "\n  ]\n}",
			"spaced":       `{ "requests" : [ ` + object("1", limit) + ` , ` + object("2", n) + ` ] }`,
			"envelope":     `{"x":` + str(n) + `,"requests":[` + object("1", limit) + `]}`,
			"envelope end": `{"requests":[` + object("1", limit) + `],"x":` + str(n) + ` }`,
			"key":          `{"requests":[` + object("1", limit) + `],` + str(n) + `:1}`,
			"white space":  `{"requests":[` + sp(n) + object("1", limit) + `,` + sp(n) + object("2", limit) + sp(n) + `]` + sp(n) + `}`,
		} {
			got := readJSONSummary(t, h, strings.NewReader(body))[0]
			want := "status 0, failed false"
			if over > 0 {
				want = "status 413, failed true"
			}
			if got != want {
				t.Errorf("%s, %d bytes against a limit of %d: %s, want %s", name, n, limit, got, want)
			}
		}
	}
}

// Every JSON batch refused as a whole says where, at the byte its reader
// stopped at: a client can find what was wrong in a large batch. (The
// offsets are counted by hand.)
func TestJSONBatchErrorsSayWhere(t *testing.T) {
	h := NewHandlerOptions(trivial, HandlerOptions{JSONFormat: FormatGraphJSON, MaxPartBytes: 100, MaxCalls: 2, MaxEpilogueBytes: 10})
	o := `{"id":"1","method":"GET","url":"/a"}` // 36 bytes
	for _, c := range []struct {
		body string
		code int
		at   int
	}{
		{``, 400, 0},
		{`  {`, 400, 3},
		{`{"requests":[` + o, 400, 49},
		{`{"requests":[` + o + `]`, 400, 50},
		{`{"requests":[{"id":"1"`, 400, 22},
		{`{"requests":[` + o + `]} x`, 400, 52},
		{`{"requests":[` + o + `]}` + strings.Repeat(" ", 11), 400, 51},
		{`{"requests":[` + o + `], "Requests":[]}`, 400, 52},
		{`{"requests":[` + o + `,` + o + `, ` + o + `]}`, 400, 88},
		{`{"requests":[` + o + `, "` + strings.Repeat("x", 200) + `"]}`, 413, 51},
		{`{"requests":[` + o + `,` + strings.Repeat(" ", 101) + o + `]}`, 413, 50},
		{`{"requests":[` + o + `,]}`, 400, 50},
	} {
		req := httptest.NewRequest("POST", "http://x.example/$batch", strings.NewReader(c.body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var e struct{ Error struct{ Message string } }
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || rec.Code != c.code || !strings.HasSuffix(e.Error.Message, fmt.Sprintf(" at byte %d", c.at)) {
			t.Errorf("%.60q: %d %s, want %d and an error at byte %d", c.body, rec.Code, rec.Body, c.code, c.at)
		}
	}
}

// A Handler whose MaxPartBytes is as large as an int64 goes (no limit, in
// effect) reads a JSON batch that arrives in pieces: the end of the
// stretch a value may reach overflowed, and the reader asked for nothing
// more for ever, on one core.
func TestJSONBatchUnboundedPartBytes(t *testing.T) {
	h := NewHandlerOptions(trivial, HandlerOptions{MaxPartBytes: math.MaxInt64})
	body := string(jsonBatchOf(3, 100))
	done := make(chan []string, 1)
	go func() { done <- readJSONSummary(t, h, iotest.OneByteReader(strings.NewReader(body))) }()
	select {
	case got := <-done:
		if want := readJSONSummary(t, NewHandler(trivial), strings.NewReader(body)); !cmp.Equal(want, got) {
			t.Errorf("(-want +got):\n%s", cmp.Diff(want, got))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the batch was not read in 10 s")
	}
}
