package main

import (
	"bufio"
	"errors"
	"io"
	"os"
	"strconv"
)

// holdOutput is how much of its output encode holds before it writes
// any: an input that fails within it leaves no output at all.
const holdOutput = 1 << 20

// An output is where encode writes: it holds the first limit bytes, so
// that a small batch is written only once every line is valid. Past
// limit, the multipart body streams to dst, after the envelope's head if
// it has one: in chunks when the head says chunked, and to a temporary
// file when the head needs the body's Content-Length first. On an error
// the body written so far lacks its close delimiter (and, chunked, its
// last chunk), so it never reads as a whole batch.
type output struct {
	dst     io.Writer
	limit   int
	prepare func() (*envelopeHead, error) // the head's, nil for none
	head    *envelopeHead

	// held is what is held, in pieces of heldPiece bytes: one slice
	// grown by append copied and cleared each byte about twice over, as
	// much work as the rest of encode for a batch of small parts.
	held  [][]byte
	nHeld int
	bw    *bufio.Writer // past limit, to dst, a chunkWriter or tmp
	tmp   *os.File      // for frameLength
	n     int64         // the body's bytes
	err   error
}

func (o *output) Write(p []byte) (int, error) {
	if o.err != nil {
		return 0, o.err
	}
	o.n += int64(len(p))
	if o.bw == nil {
		if o.nHeld+len(p) <= o.limit {
			o.hold(p)
			return len(p), nil
		}
		if o.err = o.overflow(); o.err != nil {
			return 0, o.err
		}
	}
	if _, o.err = o.bw.Write(p); o.err != nil {
		return 0, o.err
	}
	return len(p), nil
}

// heldPiece is the size of the pieces output holds its bytes in.
const heldPiece = 64 << 10

// hold adds p to what is held.
func (o *output) hold(p []byte) {
	o.nHeld += len(p)
	for len(p) > 0 {
		if n := len(o.held); n == 0 || len(o.held[n-1]) == cap(o.held[n-1]) {
			o.held = append(o.held, make([]byte, 0, min(heldPiece, o.limit)))
		}
		last := &o.held[len(o.held)-1]
		k := min(len(p), cap(*last)-len(*last))
		*last = append(*last, p[:k]...)
		p = p[k:]
	}
}

// writeHeld writes what is held to w, and lets it go.
func (o *output) writeHeld(w io.Writer) error {
	for _, b := range o.held {
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	o.held, o.nHeld = nil, 0
	return nil
}

// overflow starts streaming what is held.
func (o *output) overflow() error {
	h, err := o.getHead()
	if err != nil {
		return err
	}
	switch {
	case h == nil:
		o.bw = bufio.NewWriterSize(o.dst, 64<<10)
	case h.frame == frameToEnd:
		if err := h.write(o.dst, -1); err != nil {
			return err
		}
		o.bw = bufio.NewWriterSize(o.dst, 64<<10)
	case h.frame == frameChunked:
		if err := h.write(o.dst, -1); err != nil {
			return err
		}
		o.bw = bufio.NewWriterSize(&chunkWriter{w: o.dst}, 64<<10)
	default:
		if o.tmp, err = os.CreateTemp("", "mixed-encode-*"); err != nil {
			return err
		}
		o.bw = bufio.NewWriterSize(o.tmp, 64<<10)
	}
	return o.writeHeld(o.bw)
}

func (o *output) getHead() (*envelopeHead, error) {
	if o.head == nil && o.prepare != nil {
		h, err := o.prepare()
		if err != nil {
			return nil, errors.New("the envelope: " + err.Error())
		}
		o.head = h
	}
	return o.head, nil
}

// finish writes what is held, or the rest, and the head when it comes
// last.
func (o *output) finish() error {
	if o.err != nil {
		return o.err
	}
	h, err := o.getHead()
	if err != nil {
		return err
	}
	if o.bw == nil {
		if h != nil {
			if err := h.write(o.dst, o.n); err != nil {
				return err
			}
			if h.frame == frameChunked {
				if err := o.writeHeld(&chunkWriter{w: o.dst}); err != nil {
					return err
				}
				return writeChunk(o.dst, nil, true)
			}
		}
		return o.writeHeld(o.dst)
	}
	if err := o.bw.Flush(); err != nil {
		return err
	}
	switch {
	case h != nil && h.frame == frameChunked:
		_, err := io.WriteString(o.dst, "0\r\n\r\n")
		return err
	case o.tmp != nil:
		defer o.abort()
		if err := h.write(o.dst, o.n); err != nil {
			return err
		}
		if _, err := o.tmp.Seek(0, io.SeekStart); err != nil {
			return err
		}
		_, err := io.Copy(o.dst, o.tmp)
		return err
	}
	return nil
}

// abort removes the temporary file, if any.
func (o *output) abort() {
	if o.tmp != nil {
		o.tmp.Close()
		os.Remove(o.tmp.Name())
		o.tmp = nil
	}
}

// A chunkWriter writes each Write as one chunk of the chunked coding.
type chunkWriter struct{ w io.Writer }

func (c *chunkWriter) Write(p []byte) (int, error) {
	if err := writeChunk(c.w, p, false); err != nil {
		return 0, err
	}
	return len(p), nil
}

// writeChunk writes p as a chunk (none when empty), and the last chunk
// after it when last.
func writeChunk(w io.Writer, p []byte, last bool) error {
	var b [32]byte
	if len(p) > 0 {
		h := append(strconv.AppendInt(b[:0], int64(len(p)), 16), "\r\n"...)
		if _, err := w.Write(h); err != nil {
			return err
		}
		if _, err := w.Write(p); err != nil {
			return err
		}
		if _, err := io.WriteString(w, "\r\n"); err != nil {
			return err
		}
	}
	if last {
		_, err := io.WriteString(w, "0\r\n\r\n")
		return err
	}
	return nil
}
