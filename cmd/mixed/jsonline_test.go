package main

import (
	"bytes"
	"encoding/json"
	"testing"

	"pgregory.net/rapid"
)

// appendPartJSON writes, byte for byte, what decode's json.Encoder (HTML
// escaping off) wrote for any part line: members present or left out,
// nil and empty header lists, nested parts and messages, and strings of
// every kind of byte (escapes, control bytes, invalid UTF-8, U+2028).
func TestAppendPartJSONAsEncoder(t *testing.T) {
	pieces := []string{"a", "Content-Type", "application/json", " ", `"`, `\`, "\n", "\r", "\t", "\b", "\f", "\x00", "\x1f", "\x7f", "é", "😀", "\xff", "\xe2\x82", "<&>", "\u2028", "\u2029"}
	str := rapid.Custom(func(t *rapid.T) string {
		var b []byte
		for _, p := range rapid.SliceOfN(rapid.SampledFrom(pieces), 0, 6).Draw(t, "pieces") {
			b = append(b, p...)
		}
		return string(b)
	})
	optStr := rapid.Custom(func(t *rapid.T) *string {
		if rapid.Bool().Draw(t, "nil") {
			return nil
		}
		s := str.Draw(t, "s")
		return &s
	})
	headers := rapid.Custom(func(t *rapid.T) [][2]string {
		switch rapid.IntRange(0, 2).Draw(t, "headers kind") {
		case 0:
			return nil
		case 1:
			return [][2]string{}
		}
		h := [][2]string{}
		for range rapid.IntRange(1, 3).Draw(t, "fields") {
			h = append(h, [2]string{str.Draw(t, "name"), str.Draw(t, "value")})
		}
		return h
	})
	httpMsg := rapid.Custom(func(t *rapid.T) *httpJSON {
		if rapid.Bool().Draw(t, "no http") {
			return nil
		}
		return &httpJSON{Method: str.Draw(t, "method"), Target: str.Draw(t, "target"), Proto: str.Draw(t, "proto"),
			Status: rapid.SampledFrom([]int{0, 200, 404, -1}).Draw(t, "status"), Reason: optStr.Draw(t, "reason"),
			Headers: headers.Draw(t, "http headers"), Body: optStr.Draw(t, "http body"), BodyB64: optStr.Draw(t, "http b64")}
	})
	var part func(t *rapid.T, depth int) partJSON
	part = func(t *rapid.T, depth int) partJSON {
		p := partJSON{Kind: str.Draw(t, "kind"), Index: rapid.IntRange(-2, 1<<20).Draw(t, "index"), Headers: headers.Draw(t, "headers"),
			Group: str.Draw(t, "group"), Body: optStr.Draw(t, "body"), BodyB64: optStr.Draw(t, "b64"), HTTP: httpMsg.Draw(t, "http"), Error: str.Draw(t, "error")}
		if rapid.Bool().Draw(t, "depends") {
			p.DependsOn = rapid.SliceOfN(str, 0, 3).Draw(t, "depends on")
		}
		if depth < 2 {
			for range rapid.IntRange(0, 2).Draw(t, "parts") {
				p.Parts = append(p.Parts, part(t, depth+1))
			}
		}
		return p
	}
	rapid.Check(t, func(t *rapid.T) {
		p := part(t, 0)
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(&p); err != nil {
			t.Fatal(err)
		}
		got := append(appendPartJSON(nil, &p), '\n')
		if !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("appendPartJSON wrote\n%s\nencoding/json\n%s", got, want.Bytes())
		}
	})
}
