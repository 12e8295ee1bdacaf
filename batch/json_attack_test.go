package batch

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// allocated runs f and returns the bytes it allocated.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestJSONAttackHeaderArrayAmplification(t *testing.T) {
	name := strings.Repeat("X", 4<<10)
	vals := strings.TrimSuffix(strings.Repeat(`"",`, 50000), ",")
	body := `{"requests":[{"id":"1","method":"GET","url":"/a","headers":{"` + name + `":[` + vals + `]}}]}`
	var rec *httptest.ResponseRecorder
	var got []jsonEntry
	n := allocated(func() { rec, got = serveJSON(t, echo(), HandlerOptions{}, "/$batch", nil, body) })
	t.Logf("allocated %d MB for a %d KB body", n>>20, len(body)>>10)
	if rec.Code != 200 || len(got) != 1 || got[0].Status != 400 {
		t.Fatalf("code %d entries %+v", rec.Code, got)
	}
	if n > 16<<20 {
		t.Errorf("allocated %d MB", n>>20)
	}
}

func TestJSONAttackManyHeaderKeys(t *testing.T) {
	var b strings.Builder
	for i := range 100000 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"h%d":"v"`, i)
	}
	body := `{"requests":[{"id":"1","method":"GET","url":"/a","headers":{` + b.String() + `}}]}`
	start := time.Now()
	var rec *httptest.ResponseRecorder
	var got []jsonEntry
	n := allocated(func() { rec, got = serveJSON(t, echo(), HandlerOptions{}, "/$batch", nil, body) })
	t.Logf("%v, allocated %d MB for a %d KB body", time.Since(start), n>>20, len(body)>>10)
	if rec.Code != 200 || len(got) != 1 || got[0].Status != 400 {
		t.Fatalf("code %d entries %+v", rec.Code, got)
	}
}

// countingReader counts the bytes read from it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func TestJSONAttackTooManyCallsRefusedEarly(t *testing.T) {
	obj := `{"id":"x","method":"GET","url":"/a"},`
	body := `{"requests":[` + strings.Repeat(obj, 1000000) + `{}]}`
	cr := &countingReader{r: strings.NewReader(body)}
	req := httptest.NewRequest("POST", "/$batch", cr)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	NewHandler(echo()).ServeHTTP(rec, req)
	if rec.Code != 400 {
		t.Fatalf("code %d: %s", rec.Code, rec.Body)
	}
	if cr.n > 64<<10 {
		t.Errorf("read %d bytes of a batch refused after 21 calls", cr.n)
	}
}

func TestJSONAttackRequestsTwice(t *testing.T) {
	body := `{"requests":[{"id":"1","method":"GET","url":"/a"}],"requests":[{"id":"1","method":"DELETE","url":"/b"}]}`
	rec, _ := serveJSON(t, echo(), HandlerOptions{}, "/$batch", nil, body)
	if rec.Code != 400 {
		t.Errorf("code %d: %s", rec.Code, rec.Body)
	}
}

func TestJSONAttackQuadraticDependsOn(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"requests":[`)
	for i := range 1000 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"%d","method":"GET","url":"/a","dependsOn":[`, i)
		for j := range i {
			if j > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `"%d"`, j)
		}
		b.WriteString(`]}`)
	}
	b.WriteString(`]}`)
	start := time.Now()
	var rec *httptest.ResponseRecorder
	var got []jsonEntry
	n := allocated(func() {
		rec, got = serveJSON(t, echo(), HandlerOptions{}, "/$batch", odataHeader, b.String())
	})
	t.Logf("%v, allocated %d MB for a %d KB body", time.Since(start), n>>20, b.Len()>>10)
	if rec.Code != 200 || len(got) != 1000 {
		t.Fatalf("code %d, %d entries", rec.Code, len(got))
	}
}

var _ = cmp.Diff
var _ http.Handler
