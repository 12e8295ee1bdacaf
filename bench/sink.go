package main

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"slices"
	"strconv"
)

// A sink receives what an implementation parsed: every part header field,
// then (for the HTTP kinds) the embedded message's status and fields, then
// the body bytes. All implementations feed the same sink, so the consumer
// costs the same for everyone.
//
// A timed sink only counts bytes, so that no implementation can skip work
// the compiler would see as dead. A verifying sink hashes a canonical form
// that run.mjs reproduces byte for byte:
//
//	"P\n"
//	per part field, sorted by lower-case name (stable): name ":" value "\n"
//	for the HTTP kinds: "H " status (or method " " target) "\n", then the
//	message's fields in the same form
//	"B\n" body "\nE " len(body) "\n"
//
// with names lower-cased and values trimmed of SP and HT, because
// mime/multipart keeps neither field order across names nor name case.
type sink struct {
	verify bool
	n      int64 // bytes seen by a timed sink

	h       hash.Hash
	fields  []kv
	flushed bool
	bodyLen int
	parts   int
	scratch []byte
}

type kv struct{ name, value string }

func newTimedSink() *sink { return &sink{} }

func newVerifySink() *sink { return &sink{verify: true, h: sha256.New()} }

func (s *sink) beginPart() {
	s.parts++
	if !s.verify {
		return
	}
	s.fields = s.fields[:0]
	s.flushed = false
	s.bodyLen = 0
	s.h.Write([]byte("P\n"))
}

func (s *sink) fieldB(name, value []byte) {
	if !s.verify {
		s.n += int64(len(name) + len(value))
		return
	}
	s.fields = append(s.fields, kv{lowerASCII(string(name)), string(trimWS(value))})
}

func (s *sink) fieldS(name, value string) {
	if !s.verify {
		s.n += int64(len(name) + len(value))
		return
	}
	s.fields = append(s.fields, kv{lowerASCII(name), string(trimWS([]byte(value)))})
}

// status ends the part's fields and starts the embedded message's.
func (s *sink) status(code int) {
	if !s.verify {
		s.n += int64(code)
		return
	}
	s.flushFields()
	s.h.Write([]byte("H " + strconv.Itoa(code) + "\n"))
}

// request is status for an embedded request: method and target.
func (s *sink) request(method, target string) {
	if !s.verify {
		s.n += int64(len(method) + len(target))
		return
	}
	s.flushFields()
	s.h.Write([]byte("H " + method + " " + target + "\n"))
}

func (s *sink) flushFields() {
	slices.SortStableFunc(s.fields, func(a, b kv) int {
		switch {
		case a.name < b.name:
			return -1
		case a.name > b.name:
			return 1
		}
		return 0
	})
	for _, f := range s.fields {
		s.scratch = append(s.scratch[:0], f.name...)
		s.scratch = append(s.scratch, ':')
		s.scratch = append(s.scratch, f.value...)
		s.scratch = append(s.scratch, '\n')
		s.h.Write(s.scratch)
	}
	s.fields = s.fields[:0]
}

func (s *sink) startBody() {
	if !s.flushed {
		s.flushFields()
		s.h.Write([]byte("B\n"))
		s.flushed = true
	}
}

func (s *sink) body(p []byte) {
	if !s.verify {
		s.n += int64(len(p))
		return
	}
	s.startBody()
	s.h.Write(p)
	s.bodyLen += len(p)
}

// Write lets a sink be the destination of io.Copy for a part body.
func (s *sink) Write(p []byte) (int, error) {
	s.body(p)
	return len(p), nil
}

func (s *sink) endPart() {
	if !s.verify {
		return
	}
	s.startBody()
	s.h.Write([]byte("\nE " + strconv.Itoa(s.bodyLen) + "\n"))
}

func (s *sink) sum() string { return hex.EncodeToString(s.h.Sum(nil)) }

func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; c >= 'A' && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

func trimWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}
