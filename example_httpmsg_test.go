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

// Read the embedded responses of the Calendar documentation's batch
// response, reusing one MessageReader for every part.
func ExampleMessageReader() {
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
	var m mixed.MessageReader
	for {
		part, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		m.Reset(part)
		call, err := m.ReadResponse("")
		if err != nil {
			log.Fatal(err)
		}
		n, err := io.Copy(io.Discard, call.Body)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%d %s, ETag %s, %d body bytes\n", call.StatusCode, call.Reason, call.Header.Get("ETag"), n)
	}
	// Output:
	// 200 OK, ETag "etag/pony", 165 body bytes
	// 200 OK, ETag "etag/sheep", 167 body bytes
	// 304 Not Modified, ETag "etag/animals", 0 body bytes
}

// Write a batch of two requests: each part's body is an embedded request
// written by a MessageWriter. The output shows each CRLF as \r\n.
func ExampleMessageWriter() {
	var out bytes.Buffer
	w := mixed.NewWriter(&out)
	if err := w.SetBoundary("batch_foobarbaz"); err != nil {
		log.Fatal(err)
	}
	var mw mixed.MessageWriter
	var part, fields mixed.Header
	for i, target := range []string{"/farm/v1/animals/pony", "/farm/v1/animals/sheep"} {
		part.Reset()
		part.Add("Content-Type", "application/http")
		part.Add("Content-ID", fmt.Sprintf("<item%d>", i+1))
		pw, err := w.CreatePart(&part)
		if err != nil {
			log.Fatal(err)
		}
		fields.Reset()
		fields.Add("Accept", "application/json")
		if err := mw.WriteRequest(pw, "GET", target, &fields, nil); err != nil {
			log.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}
	fmt.Print(strings.ReplaceAll(out.String(), "\r\n", `\r\n`+"\n"))
	// Output:
	// --batch_foobarbaz\r\n
	// Content-Type: application/http\r\n
	// Content-ID: <item1>\r\n
	// \r\n
	// GET /farm/v1/animals/pony HTTP/1.1\r\n
	// Accept: application/json\r\n
	// \r\n
	// \r\n
	// --batch_foobarbaz\r\n
	// Content-Type: application/http\r\n
	// Content-ID: <item2>\r\n
	// \r\n
	// GET /farm/v1/animals/sheep HTTP/1.1\r\n
	// Accept: application/json\r\n
	// \r\n
	// \r\n
	// --batch_foobarbaz--\r\n
}
