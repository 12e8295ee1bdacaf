package main

import (
	"net/http"
	"strings"
	"testing"
)

// A batch's path is the client's to choose below the batch path, and its
// plain log line must stay one line whatever the path holds: a newline
// decoded from %0A wrote a second line, which a reader of the log (or a
// tool that parses it) took for another batch, from another client.
func TestServeLogLineNotForged(t *testing.T) {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	var b strings.Builder
	log := &syncWriter{w: &b}
	addr, stop := startStopServe(t, inner, defaultConfig(), log)
	forged := "/batch/x%0D%0Abatch%206.6.6.6:1%20/batch%20status=200%20calls=1%20statuses=200:1%20duration=1ms"
	body := "--b\r\nContent-Type: application/http\r\n\r\nGET /ok HTTP/1.1\r\n\r\n--b--\r\n"
	resp, err := http.Post("http://"+addr+forged, "multipart/mixed; boundary=b", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d, want 200", resp.StatusCode)
	}
	stop()
	var lines []string
	for l := range strings.Lines(b.String()) {
		if strings.HasPrefix(l, "batch ") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 || strings.Contains(b.String(), "\nbatch 6.6.6.6") {
		t.Errorf("log lines for one batch: %q", lines)
	}
}
