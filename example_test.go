package mixed_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strings"

	"github.com/mixedcodec/mixed"
)

// Read a Google batch response: the Calendar documentation's example,
// saved as a whole HTTP response.
func ExampleReader() {
	f, err := os.Open("testdata/calendar-batch-response.http")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	resp, err := http.ReadResponse(bufio.NewReader(f), nil)
	if err != nil {
		log.Fatal(err)
	}
	boundary, err := mixed.ParseBoundary(resp.Header.Get("Content-Type"))
	if err != nil {
		log.Fatal(err)
	}
	r := mixed.NewReader(resp.Body, boundary)
	for {
		part, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		// The first line of each part's body is the embedded status line.
		line, _, _ := bufio.NewReader(part).ReadLine()
		fmt.Printf("%s: %s\n", part.Header.Get("Content-ID"), line)
	}
	// Output:
	// <response-item1:12930812@barnyard.example.com>: HTTP/1.1 200 OK
	// <response-item2:12930812@barnyard.example.com>: HTTP/1.1 200 OK
	// <response-item3:12930812@barnyard.example.com>: HTTP/1.1 304 Not Modified
}

// Write a two-call batch request body, reusing one Header for every part.
func ExampleWriter() {
	var body bytes.Buffer
	w := mixed.NewWriter(&body)
	if err := w.SetBoundary("batch_foobarbaz"); err != nil {
		log.Fatal(err)
	}
	var h mixed.Header
	for i, call := range []string{"GET /farm/v1/animals/pony", "GET /farm/v1/animals"} {
		h.Reset()
		h.Add("Content-Type", "application/http")
		h.Add("Content-ID", fmt.Sprintf("<item%d>", i+1))
		pw, err := w.CreatePart(&h)
		if err != nil {
			log.Fatal(err)
		}
		io.WriteString(pw, call+" HTTP/1.1\r\n\r\n")
	}
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}
	fmt.Println(w.ContentType())
	// Show the line ends, which are CRLF.
	fmt.Print(strings.ReplaceAll(body.String(), "\r\n", "\\r\\n\n"))
	// Output:
	// multipart/mixed; boundary=batch_foobarbaz
	// --batch_foobarbaz\r\n
	// Content-Type: application/http\r\n
	// Content-ID: <item1>\r\n
	// \r\n
	// GET /farm/v1/animals/pony HTTP/1.1\r\n
	// \r\n
	// \r\n
	// --batch_foobarbaz\r\n
	// Content-Type: application/http\r\n
	// Content-ID: <item2>\r\n
	// \r\n
	// GET /farm/v1/animals HTTP/1.1\r\n
	// \r\n
	// \r\n
	// --batch_foobarbaz--\r\n
}

// Google sends unquoted boundaries with '=', which mime.ParseMediaType
// rejects.
func ExampleParseBoundary() {
	b, err := mixed.ParseBoundary("multipart/mixed; boundary=batch_pK7JBAk73-E=_AA5eFwv4m2Q=")
	fmt.Println(b, err)
	_, err = mixed.ParseBoundary("application/json")
	fmt.Println(err)
	// Output:
	// batch_pK7JBAk73-E=_AA5eFwv4m2Q= <nil>
	// mixed: not a multipart media type: media type "application/json"
}
