package batch

import (
	"bytes"
	"io"
	"net/http"
	"sync"
)

// recordBodies keeps a copy of every request body h receives, so a failed
// interop test can show the bytes the real client sent.
type recordBodies struct {
	h      http.Handler
	mu     sync.Mutex
	bodies [][]byte
}

func (rb *recordBodies) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rb.mu.Lock()
	rb.bodies = append(rb.bodies, b)
	rb.mu.Unlock()
	r.Body = io.NopCloser(bytes.NewReader(b))
	rb.h.ServeHTTP(w, r)
}

func (rb *recordBodies) String() string {
	rb.mu.Lock()
	defer rb.mu.Unlock()
	return string(bytes.Join(rb.bodies, []byte("\n----- next request -----\n")))
}
