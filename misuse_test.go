package mixed_test

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/mixedcodec/mixed"
)

// A zero value used without its constructor or Reset is an error, never a
// panic.
func TestZeroValuesFailLoudly(t *testing.T) {
	var r mixed.Reader
	if _, err := r.NextPart(); err == nil || err == io.EOF {
		t.Errorf("zero Reader: NextPart returned %v, want a misuse error", err)
	}
	var br mixed.BytesReader
	if _, err := br.NextPart(); err == nil || err == io.EOF {
		t.Errorf("zero BytesReader: NextPart returned %v, want a misuse error", err)
	}
}

// A Reader on a Part whose Reader has moved on fails once it has used up
// what it read of that part, rather than read the next part's bytes.
func TestNestedReaderAfterOuterMovedOn(t *testing.T) {
	long := strings.Repeat("n", 4*mixed.DefaultBufferSize)
	outer := "--o\r\nContent-Type: multipart/mixed; boundary=i\r\n\r\n" +
		"--i\r\n\r\n" + long + "\r\n--i--" +
		"\r\n--o\r\n\r\n--i\r\n\r\nNEXT\r\n--i--" +
		"\r\n--o--\r\n"
	o := mixed.NewReader(strings.NewReader(outer), "o")
	p, err := o.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	in := mixed.NewReader(p, "i")
	q, err := in.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.NextPart(); err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	_, err = io.Copy(&got, q)
	for err == nil {
		_, err = in.NextPart()
	}
	if err == io.EOF || strings.Contains(got.String(), "NEXT") || got.Len() >= len(long) {
		t.Errorf("nested reader after the outer moved on: read %d bytes (NEXT among them: %v), then %v; want fewer than %d, no NEXT and an error",
			got.Len(), strings.Contains(got.String(), "NEXT"), err, len(long))
	}
}

func TestNilSourceFailsLoudly(t *testing.T) {
	if _, err := mixed.NewReader(nil, "b").NextPart(); err == nil || err == io.EOF {
		t.Errorf("NewReader(nil): NextPart returned %v, want a misuse error", err)
	}
	for cr, err := range mixed.ReadResponses(nil, "b") {
		if cr != nil || err == nil || err == io.EOF {
			t.Errorf("ReadResponses(nil) yielded %v, %v; want a misuse error", cr, err)
		}
	}
}
