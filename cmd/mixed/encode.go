package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/mixedcodec/mixed"
)

func encodeCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("encode", flag.ContinueOnError)
	fs.SetOutput(stderr)
	boundary := fs.String("boundary", "", "the boundary to write (default: random)")
	envelope := fs.String("envelope", "", `write a whole HTTP request with this request line, e.g. "POST /batch/farm/v1"`)
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: mixed encode [-boundary B] [-envelope "METHOD TARGET"] [FILE]

Reads the JSON lines that "mixed decode" prints, from FILE or standard
input, and writes the multipart body they describe: each part's headers,
then its "body" (or "body_base64"), or, without one, its "http" message or
its nested "parts". With -envelope, writes a whole HTTP request with
Content-Type and Content-Length. Nothing is written unless every line is
valid, so a partial output is never mistaken for a complete batch.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 1 {
		fs.Usage()
		return 2
	}
	var method, target string
	if *envelope != "" {
		f := strings.Fields(*envelope)
		if len(f) < 2 || len(f) > 3 || len(f) == 3 && f[2] != "HTTP/1.1" {
			fmt.Fprintf(stderr, "mixed: -envelope %q: want \"METHOD TARGET\"\n", *envelope)
			return 2
		}
		method, target = f[0], f[1]
	}
	in, err := openInput(fs.Arg(0), stdin)
	if err != nil {
		fmt.Fprintf(stderr, "mixed: %v\n", err)
		return 1
	}
	defer in.Close()

	var body bytes.Buffer
	w := mixed.NewWriter(&body)
	if *boundary != "" {
		if err := w.SetBoundary(*boundary); err != nil {
			fmt.Fprintf(stderr, "mixed: -boundary: %v\n", err)
			return 2
		}
	}
	if err := encode(bufio.NewReaderSize(in, 64<<10), w); err != nil {
		fmt.Fprintf(stderr, "mixed: %v\n", err)
		return 1
	}
	var out bytes.Buffer
	if *envelope != "" {
		var h mixed.Header
		h.Add("Content-Type", w.ContentType())
		mw := mixed.NewMessageWriter(decodeOpts)
		if err := mw.WriteRequest(&out, method, target, &h, body.Bytes()); err != nil {
			fmt.Fprintf(stderr, "mixed: -envelope: %v\n", err)
			return 2
		}
	} else {
		out = body
	}
	if _, err := stdout.Write(out.Bytes()); err != nil {
		fmt.Fprintf(stderr, "mixed: %v\n", err)
		return 1
	}
	return 0
}

// encode writes a part for each JSON line of in, then closes w.
func encode(in *bufio.Reader, w *mixed.Writer) error {
	for line := 1; ; line++ {
		b, err := in.ReadBytes('\n')
		if len(bytes.TrimSpace(b)) > 0 {
			var p partJSON
			if jerr := json.Unmarshal(b, &p); jerr != nil {
				return fmt.Errorf("line %d: %w", line, jerr)
			}
			if perr := writePart(w, &p); perr != nil {
				return fmt.Errorf("line %d: %w", line, perr)
			}
		}
		if err == io.EOF {
			return w.Close()
		}
		if err != nil {
			return err
		}
	}
}

// writePart writes p as a part of w.
func writePart(w *mixed.Writer, p *partJSON) error {
	var h mixed.Header
	for _, f := range p.Headers {
		h.Add(f[0], f[1])
	}
	body, ok, err := getBody(p.Body, p.BodyB64)
	if err != nil {
		return err
	}
	if !ok {
		body, err = partContent(&h, p)
		if err != nil {
			return err
		}
	}
	pw, err := w.CreatePart(&h)
	if err != nil {
		return err
	}
	_, err = pw.Write(body)
	return err
}

// partContent builds the raw body of a part given by its "http" or "parts".
func partContent(h *mixed.Header, p *partJSON) ([]byte, error) {
	var buf bytes.Buffer
	switch {
	case p.HTTP != nil:
		m := p.HTTP
		var mh mixed.Header
		for _, f := range m.Headers {
			mh.Add(f[0], f[1])
		}
		body, _, err := getBody(m.Body, m.BodyB64)
		if err != nil {
			return nil, fmt.Errorf("http: %w", err)
		}
		mw := mixed.NewMessageWriter(decodeOpts)
		if m.Method != "" {
			err = mw.WriteRequest(&buf, m.Method, m.Target, &mh, body)
		} else {
			reason := ""
			if m.Reason != nil {
				reason = *m.Reason
			}
			err = mw.WriteResponse(&buf, m.Status, reason, &mh, body)
		}
		if err != nil {
			return nil, fmt.Errorf("http: %w", err)
		}
	case p.Parts != nil:
		b, err := mixed.ParseBoundary(string(h.Get("Content-Type")))
		if err != nil {
			return nil, fmt.Errorf(`"parts" needs a multipart Content-Type header naming the boundary: %w`, err)
		}
		nw := mixed.NewWriter(&buf)
		if err := nw.SetBoundary(b); err != nil {
			return nil, err
		}
		for i := range p.Parts {
			if err := writePart(nw, &p.Parts[i]); err != nil {
				return nil, fmt.Errorf("parts[%s]: %w", strconv.Itoa(i), err)
			}
		}
		if err := nw.Close(); err != nil {
			return nil, err
		}
	default:
		return nil, errors.New(`a part needs "body", "body_base64", "http" or "parts"`)
	}
	return buf.Bytes(), nil
}
