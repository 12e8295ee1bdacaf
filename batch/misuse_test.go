package batch_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mixedcodec/mixed/batch"
)

// A Handler not made by NewHandler, or made with a nil inner handler, says
// so with a 500, rather than refusing every batch for its size.
func TestHandlerWithoutInnerFailsLoudly(t *testing.T) {
	for name, h := range map[string]*batch.Handler{"zero": new(batch.Handler), "nil inner": batch.NewHandler(nil)} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "/batch", strings.NewReader("--b\r\nContent-Type: application/http\r\n\r\nGET / HTTP/1.1\r\n\r\n\r\n--b--\r\n"))
		req.Header.Set("Content-Type", "multipart/mixed; boundary=b")
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), "NewHandler") {
			t.Errorf("%s Handler: %d %q; want 500 naming NewHandler", name, rec.Code, rec.Body.String())
		}
	}
}
