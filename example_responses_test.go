package mixed_test

import (
	"bufio"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strings"

	"github.com/mixedcodec/mixed"
)

// Read a whole batch response into net/http responses, each with the
// Content-ID of its part: the convenient path, which copies every body
// (bounded by CopyOptions.MaxCopyBytes), so that they stay valid after the
// loop. The batch package's Client does this, and matches the responses to
// their calls, for a batch it sent; the zero-copy path is Reader and
// MessageReader (see ExampleMessageReader).
func Example_responses() {
	f, err := os.Open("testdata/calendar-batch-response.http")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	resp, err := http.ReadResponse(bufio.NewReader(f), nil) // as from http.Client.Do
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()

	for part, err := range mixed.Responses(resp) {
		if err != nil {
			log.Fatal(err)
		}
		res := part.Response
		body, _ := io.ReadAll(res.Body)
		fmt.Printf("%s: %s, ETag %s, %d body bytes\n", part.ContentID, res.Status, res.Header.Get("ETag"), len(body))
	}
	// Output:
	// <response-item1:12930812@barnyard.example.com>: 200 OK, ETag "etag/pony", 165 body bytes
	// <response-item2:12930812@barnyard.example.com>: 200 OK, ETag "etag/sheep", 167 body bytes
	// <response-item3:12930812@barnyard.example.com>: 304 Not Modified, ETag "etag/animals", 0 body bytes
}

// Collect every part of a multipart body, headers and bodies copied, and
// use them after the loop.
func ExampleReadParts() {
	body := "--b\r\nContent-ID: <a>\r\n\r\nfirst\r\n--b\r\nContent-ID: <b>\r\n\r\nsecond\r\n--b--\r\n"
	var parts []*mixed.CopiedPart
	for part, err := range mixed.ReadParts(strings.NewReader(body), "b") {
		if err != nil {
			log.Fatal(err)
		}
		parts = append(parts, part) // a copy: valid after the next part
	}
	for _, p := range parts {
		fmt.Printf("%s %s\n", p.Header.Get("Content-ID"), p.Body)
	}
	// Output:
	// <a> first
	// <b> second
}

// Bound what the iterator may copy: a batch response larger than MaxCopyBytes
// fails with ErrCopyTooLarge instead of filling memory.
func ExampleCopyOptions() {
	body := "--b\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nhello, world\r\n--b--\r\n"
	for part, err := range mixed.ReadResponsesOptions(strings.NewReader(body), "b", mixed.CopyOptions{MaxCopyBytes: 10}) {
		if err != nil {
			fmt.Println(err)
			break
		}
		fmt.Println(part.Response.Status)
	}
	// Output:
	// mixed: too many bytes to copy: over CopyOptions.MaxCopyBytes
}
