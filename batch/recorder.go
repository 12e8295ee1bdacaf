package batch

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
)

// A recorder is the http.ResponseWriter a call's handler writes to. It keeps
// the response in memory, the call's body and nothing more, until the
// response part is written; a batch's recorders are reused by the next
// batch.
type recorder struct {
	h           http.Header
	status      int
	wroteHeader bool
	body        bytes.Buffer
}

// reset makes the recorder ready for another call, keeping its memory
// unless one response made it large.
func (rec *recorder) reset() {
	clear(rec.h)
	rec.status, rec.wroteHeader = 0, false
	if rec.body.Cap() > 64<<10 {
		rec.body = bytes.Buffer{}
	}
	rec.body.Reset()
}

// Header returns the response header, to be changed before WriteHeader or
// the first Write, as net/http documents.
func (rec *recorder) Header() http.Header { return rec.h }

// WriteHeader records the status code. Informational (1xx) codes are
// ignored, since the batch response carries only final responses; a second
// final code is ignored, as net/http does (it logs a "superfluous" call).
func (rec *recorder) WriteHeader(code int) {
	if rec.wroteHeader || code < 200 {
		if code < 100 || code > 999 {
			panic("batch: invalid WriteHeader code " + strconv.Itoa(code))
		}
		return
	}
	if code > 999 {
		panic("batch: invalid WriteHeader code " + strconv.Itoa(code))
	}
	rec.status = code
	rec.wroteHeader = true
}

// Write appends to the body, sending a 200 first if WriteHeader was not
// called. Statuses that have no body (204, 304) refuse it with
// http.ErrBodyNotAllowed, as net/http does.
func (rec *recorder) Write(p []byte) (int, error) {
	if !rec.wroteHeader {
		rec.WriteHeader(http.StatusOK)
	}
	if rec.status == http.StatusNoContent || rec.status == http.StatusNotModified {
		return 0, http.ErrBodyNotAllowed
	}
	if rec.body.Len() == 0 && len(p) > 0 && rec.h.Get("Content-Type") == "" {
		// net/http sniffs the first write when the handler set no
		// Content-Type (and did not delete it with a nil value).
		if _, set := rec.h["Content-Type"]; !set {
			rec.h.Set("Content-Type", http.DetectContentType(p))
		}
	}
	return rec.body.Write(p)
}

// Flush does nothing: a call's response is sent whole, when the calls
// before it are done.
func (rec *recorder) Flush() {}

// finish completes a response whose handler returned without writing.
func (rec *recorder) finish() {
	if !rec.wroteHeader {
		rec.WriteHeader(http.StatusOK)
	}
}

// fail replaces whatever was recorded with an error response.
func (rec *recorder) fail(code int, msg string) {
	clear(rec.h)
	rec.body.Reset()
	rec.h.Set("Content-Type", "text/plain; charset=utf-8")
	rec.h.Set("X-Content-Type-Options", "nosniff")
	rec.status, rec.wroteHeader = code, true
	rec.body.WriteString(msg)
	rec.body.WriteByte('\n')
}

// failJSON replaces whatever was recorded with a JSON error response.
func (rec *recorder) failJSON(code int, msg string) {
	clear(rec.h)
	rec.body.Reset()
	rec.h.Set("Content-Type", "application/json")
	rec.status, rec.wroteHeader = code, true
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"code": code, "message": msg}})
	rec.body.Write(b)
	rec.body.WriteByte('\n')
}
