package mixed

import "bytes"

// A fast path for long preambles: the line-by-line scan of
// Reader.preamble costs a call of IndexByte per line, which makes a
// preamble of short lines far slower to skip than a body of the same size.
// Once a preamble has gone on for a while, skipPreambleLines skips, in a
// few passes over the buffer, the complete lines that the line scan would
// skip without effect: lines that do not start with "--" boundary and are
// no longer than MaxLineBytes. It stops before any other line, which the
// line scan then handles, so errors and their offsets do not change.

// preambleFastAfter is how many bytes of preamble the line scan skips
// before the fast path starts: real bodies have short preambles or none.
var preambleFastAfter int64 = 1024

// preFinder finds "\n--" boundary, a line that starts with the dash
// boundary, in a preamble, whatever its line ends.
type preFinder struct {
	pat [4 + maxBoundary]byte
	n   int
	f   finder
	// The search's progress in the current body, in stream offsets, so
	// that the line scan's stops never make it search bytes twice: cand
	// is the LF before a candidate line found and not yet passed, or -1;
	// none is where the bytes searched without a candidate end.
	cand, none int64
}

// startPreamble forgets the search of the previous body.
func (mr *Reader) startPreamble() {
	if mr.pre != nil {
		mr.pre.cand, mr.pre.none = -1, 0
	}
}

func (mr *Reader) preambleFinder() *finder {
	want := mr.dbuf[1 : len(mr.dash)+2] // "\n--" + boundary
	if mr.pre == nil {
		mr.pre = new(preFinder)
	}
	p := mr.pre
	if string(p.pat[:p.n]) != string(want) {
		p.n = copy(p.pat[:], want)
		p.f.reset(p.pat[:p.n], 3)
	}
	return &p.f
}

// skipPreambleLines consumes the complete preamble lines at the start of
// the unread input, up to the first line that starts with "--" boundary
// or is longer than MaxLineBytes (or that it cannot tell apart from one).
func (mr *Reader) skipPreambleLines() {
	b := mr.buf[mr.r:mr.w]
	if bytes.HasPrefix(b, mr.dash) {
		return
	}
	f := mr.preambleFinder()
	p := mr.pre
	cur := mr.off + int64(mr.r) // stream offset of b[0]
	end := len(b)
	if p.cand >= cur {
		end = int(p.cand-cur) + 1 // the candidate's line starts after its LF
	} else {
		// Resume where the last search stopped, less what may be the
		// start of a candidate cut by the end of the buffer then.
		from := max(0, int(p.none-cur)-(p.n-1))
		if i := f.index(b[from:]); i >= 0 {
			end = from + i + 1
			p.cand = cur + int64(from+i)
		} else {
			p.none = cur + int64(len(b))
		}
	}
	// Every line in b[:end] must be at most L bytes without its line end.
	// The last LF in b[s:s+L+1] ends a line that starts at or after s and
	// is at most L bytes long, and so are the lines before it: jump there.
	// (An LF at s+L+1 may end a line of L bytes and a CR: the line scan
	// decides that one.)
	L := mr.opts.MaxLineBytes
	s := 0
	for s < end {
		w := b[s:min(end, s+L+1)]
		// Look near the window's end first: with short lines, the last LF
		// is there; with long ones, IndexByte finds the first LF fast.
		t := max(0, len(w)-256)
		e := bytes.LastIndexByte(w[t:], '\n')
		if e >= 0 {
			e += t
		} else if e = bytes.IndexByte(w[:t], '\n'); e < 0 {
			break
		}
		s += e + 1
	}
	if s > 0 {
		mr.consume(s)
	}
}
