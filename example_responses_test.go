package mixed_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"

	"github.com/mixedcodec/mixed"
)

// readResponses reads a whole batch response into net/http responses, in
// the order of its parts, with each part's Content-ID. A part's body
// streams from the batch, so it is copied before the next part is read.
func readResponses(resp *http.Response) (ids []string, out []*http.Response, err error) {
	boundary, err := mixed.ParseBoundary(resp.Header.Get("Content-Type"))
	if err != nil {
		return nil, nil, err
	}
	r := mixed.NewReader(resp.Body, boundary)
	var m mixed.MessageReader
	for {
		part, err := r.NextPart()
		if err == io.EOF {
			return ids, out, nil
		}
		if err != nil {
			return nil, nil, err
		}
		m.Reset(part)
		msg, err := m.ReadResponse("")
		if err != nil {
			return nil, nil, err
		}
		res := msg.HTTPResponse(resp.Request)
		body, err := io.ReadAll(res.Body) // before the next part
		if err != nil {
			return nil, nil, err
		}
		res.Body = io.NopCloser(bytes.NewReader(body))
		ids = append(ids, part.Header.Get("Content-ID"))
		out = append(out, res)
	}
}

// Read a whole batch response into []*http.Response with the codec's API:
// the loop of readResponses above, ten lines without its error checks. The batch package's Client does
// this, and matches the responses to their calls, for a batch it sent.
func Example_responses() {
	f, err := os.Open("testdata/calendar-batch-response.http")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	resp, err := http.ReadResponse(bufio.NewReader(f), nil)
	if err != nil {
		log.Fatal(err)
	}
	ids, responses, err := readResponses(resp)
	if err != nil {
		log.Fatal(err)
	}
	for i, res := range responses {
		body, _ := io.ReadAll(res.Body)
		fmt.Printf("%s: %s, ETag %s, %d body bytes\n", ids[i], res.Status, res.Header.Get("ETag"), len(body))
	}
	// Output:
	// <response-item1:12930812@barnyard.example.com>: 200 OK, ETag "etag/pony", 165 body bytes
	// <response-item2:12930812@barnyard.example.com>: 200 OK, ETag "etag/sheep", 167 body bytes
	// <response-item3:12930812@barnyard.example.com>: 304 Not Modified, ETag "etag/animals", 0 body bytes
}
