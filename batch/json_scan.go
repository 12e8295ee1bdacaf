package batch

// Reading the JSON of a JSON batch in one pass. encoding/json's Decoder
// looked at each byte of a request object three times (to find its end,
// to skip it again into a RawMessage, and once more for json.Valid on
// the way out), a third of the cost of a call; jsonScanner finds a
// value's end and checks that it is JSON in one look, by encoding/json's
// rules and in its words, and jsonStream is the thin reading loop around
// it.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"iter"
	"math"
	"math/bits"
	"strconv"
)

// jsonMaxNesting is encoding/json's bound on nesting (its scanner's
// maxNestingDepth): a document that nests deeper is not one it reads.
const jsonMaxNesting = 10000

// errJSONNeedMore is jsonScanner.scan's answer when its input ends before
// the value does.
var errJSONNeedMore = errors.New("need more input")

// A jsonSyntaxError is JSON that encoding/json refuses, said in its words,
// or that nests deeper than allowed (wrapping ErrJSONTooDeep), at Offset:
// the byte the scanner stopped at, counted from the start of what it was
// given (jsonStream counts from the start of the document).
type jsonSyntaxError struct {
	msg    string
	Offset int64
	err    error
}

func (e *jsonSyntaxError) Error() string {
	msg := e.msg
	if e.err != nil {
		msg = e.err.Error() + ": " + msg
	}
	return msg + " at byte " + strconv.FormatInt(e.Offset, 10)
}

func (e *jsonSyntaxError) Unwrap() error { return e.err }

// A jsonScanner finds the end of a JSON value and checks it. Its stack is
// kept between scans so that scanning allocates nothing once it has grown.
type jsonScanner struct {
	stack []byte // the closing bytes of the open objects and arrays
	// plain says that no string of the value scanned last has an escape
	// or a byte outside ASCII: each is its own text (see unquoteIn).
	plain   bool
	high    uint64 // the bits of the strings' bytes, for plain
	scanned int64  // bytes given to scan, for the linearity test
	// members are where the members of the value scanned last lie, when
	// it is an object of at most len(members) of them: nMembers of them,
	// or -1 when there were more (see topMembers).
	members  [maxTopMembers]memberSpan
	nMembers int
}

// maxTopMembers is how many members of an object jsonScanner notes; a
// request or response object has a handful.
const maxTopMembers = 16

// A memberSpan is where one member of an object lies in the value
// scanned: the opening quote of its key, and its value, from start to end.
type memberSpan struct{ key, start, end int }

// topMembers returns the members of the object scanned last, in order, or
// nil when it was not an object or had more than fit (an empty object has
// none: a non-nil empty slice). The offsets are in the bytes given to scan.
func (s *jsonScanner) topMembers() []memberSpan {
	if s.nMembers < 0 {
		return nil
	}
	return s.members[:s.nMembers]
}

// objectMembers yields the members of the object whose "{" is at b[open]
// (b valid JSON, as jsonScanner checked it), in order: members when not
// nil, where the scanner found them (topMembers), or else by a walk over
// the object, for one with more members than the scanner notes.
func objectMembers(b []byte, open int, members []memberSpan) iter.Seq[memberSpan] {
	return func(yield func(memberSpan) bool) {
		if members != nil {
			for _, m := range members {
				if !yield(m) {
					return
				}
			}
			return
		}
		for i := skipSpace(b, open+1); i < len(b) && b[i] != '}'; {
			start := skipSpace(b, skipSpace(b, stringEnd(b, i))+1) // past the colon
			end := valueEnd(b, start)
			if !yield(memberSpan{key: i, start: start, end: end}) {
				return
			}
			if i = skipSpace(b, end); i < len(b) && b[i] == ',' {
				i = skipSpace(b, i+1)
			}
		}
	}
}

// noteKey notes a member of the outermost object whose key starts at i,
// and its value at start.
func (s *jsonScanner) noteKey(i, start int) {
	if s.nMembers >= 0 {
		if s.nMembers == len(s.members) {
			s.nMembers = -1
			return
		}
		s.members[s.nMembers] = memberSpan{key: i, start: start}
		s.nMembers++
	}
}

// scan returns the index just past the JSON value that starts at b[0]
// (not white space), having checked it as encoding/json's scanner does:
// the grammar of RFC 8259, no control character in a string, any other
// byte, valid UTF-8 or not, and at most maxDepth levels of objects and
// arrays (ErrJSONTooDeep past them). When b ends inside the value it
// returns errJSONNeedMore, unless atEOF says no more input follows, when
// the value is cut short; a number at the end of b is complete only then.
// A value is scanned from its start each time: see jsonStream.value for
// why that costs at most twice the bytes.
func (s *jsonScanner) scan(b []byte, atEOF bool, maxDepth int) (int, error) {
	s.scanned += int64(len(b))
	s.plain, s.high = true, 0
	s.nMembers = -1 // until the value is known to be an object
	if len(b) > 0 && b[0] == '{' {
		s.nMembers = 0
	}
	stack := s.stack[:0]
	defer func() {
		s.stack = stack
		s.plain = s.plain && s.high&jsonHi == 0
	}()
	i := 0
	var err error
	for {
		// A value starts at b[i].
		if i >= len(b) {
			return i, jsonEnd(i, atEOF)
		}
		switch c := b[i]; c {
		case '{', '[':
			if len(stack) >= maxDepth {
				return i, &jsonSyntaxError{msg: "more than " + strconv.Itoa(maxDepth) + " levels", Offset: int64(i), err: ErrJSONTooDeep}
			}
			if len(stack) >= jsonMaxNesting {
				return i, syntaxAt(i, c, "exceeded max depth")
			}
			end := byte('}')
			if c == '[' {
				end = ']'
			}
			if i = skipSpace(b, i+1); i >= len(b) {
				return i, jsonEnd(i, atEOF)
			}
			if b[i] == end {
				i++ // empty
				break
			}
			stack = append(stack, end)
			if end == '}' {
				k := i
				if i, err = s.objectKey(b, i, atEOF); err != nil {
					return i, err
				}
				if len(stack) == 1 {
					s.noteKey(k, i)
				}
			}
			continue // to the first member's value
		case '"':
			i, err = s.scanString(b, i, atEOF)
		case 't':
			i, err = scanLiteral(b, i, "true", atEOF)
		case 'f':
			i, err = scanLiteral(b, i, "false", atEOF)
		case 'n':
			i, err = scanLiteral(b, i, "null", atEOF)
		default:
			if c != '-' && (c < '0' || c > '9') {
				return i, syntaxAt(i, c, "looking for beginning of value")
			}
			i, err = scanNumber(b, i, atEOF)
		}
		if err != nil {
			return i, err
		}
		// After a value: the ends of the objects and arrays it ends, and
		// the comma before the next member, if any.
		for {
			if len(stack) == 0 {
				return i, nil
			}
			if len(stack) == 1 && s.nMembers > 0 {
				// A member of the outermost object ends here.
				s.members[s.nMembers-1].end = i
			}
			if i = skipSpace(b, i); i >= len(b) {
				return i, jsonEnd(i, atEOF)
			}
			end := stack[len(stack)-1]
			if c := b[i]; c != ',' {
				if c != end {
					if end == '}' {
						return i, syntaxAt(i, c, "after object key:value pair")
					}
					return i, syntaxAt(i, c, "after array element")
				}
				stack = stack[:len(stack)-1]
				i++
				continue
			}
			i = skipSpace(b, i+1)
			if end == '}' {
				k := i
				if i, err = s.objectKey(b, i, atEOF); err != nil {
					return i, err
				}
				if len(stack) == 1 {
					s.noteKey(k, i)
				}
			}
			break
		}
	}
}

// objectKey scans the key of an object member at b[i] and the colon after
// it, and returns where the member's value may start (white space
// skipped).
func (s *jsonScanner) objectKey(b []byte, i int, atEOF bool) (int, error) {
	if i >= len(b) {
		return i, jsonEnd(i, atEOF)
	}
	if b[i] != '"' {
		return i, syntaxAt(i, b[i], "looking for beginning of object key string")
	}
	i, err := s.scanString(b, i, atEOF)
	if err != nil {
		return i, err
	}
	if i = skipSpace(b, i); i >= len(b) {
		return i, jsonEnd(i, atEOF)
	}
	if b[i] != ':' {
		return i, syntaxAt(i, b[i], "after object key")
	}
	return skipSpace(b, i+1), nil
}

// jsonEnd is the error of input that ends at i inside a value.
func jsonEnd(i int, atEOF bool) error {
	if atEOF {
		return &jsonSyntaxError{msg: "unexpected end of JSON input", Offset: int64(i)}
	}
	return errJSONNeedMore
}

// cutShort is the error of input that ends at i inside a token that
// white space cannot continue, context saying which: encoding/json,
// meeting the end there, reads it as a space, and refuses that.
func cutShort(i int, atEOF bool, context string) error {
	if atEOF {
		return syntaxAt(i, ' ', context)
	}
	return errJSONNeedMore
}

// syntaxAt is encoding/json's error for byte c at i, where context says
// what it was looking at.
func syntaxAt[I int | int64](i I, c byte, context string) error {
	return &jsonSyntaxError{msg: "invalid character " + quoteJSONChar(c) + " " + context, Offset: int64(i)}
}

// quoteJSONChar formats c as encoding/json's errors do.
func quoteJSONChar(c byte) string {
	switch c {
	case '\'':
		return `'\''`
	case '"':
		return `'"'`
	}
	s := strconv.Quote(string(rune(c)))
	return "'" + s[1:len(s)-1] + "'"
}

// Eight bytes at a time: jsonLo has a one in each byte, jsonHi a one in
// the top bit of each.
const (
	jsonLo = 0x0101010101010101
	jsonHi = 0x8080808080808080
)

// stringStops has the top bit set in each byte of x that ends a string's
// plain run: a quote, a backslash or a control character. Bits above the
// first such byte may be set wrongly (a borrow), never below it: only the
// lowest set bit is to be read.
func stringStops(x uint64) uint64 {
	q := x ^ ('"' * jsonLo)
	bs := x ^ ('\\' * jsonLo)
	return ((q-jsonLo)&^q | (bs-jsonLo)&^bs | (x-' '*jsonLo)&^x) & jsonHi
}

// scanString returns the index just past the string literal that starts
// at b[i] ('"'). The bits of the bytes it looks at go into s.high (some
// past the string's end too, which are ASCII unless the input is not
// JSON or they are another string's).
func (s *jsonScanner) scanString(b []byte, i int, atEOF bool) (int, error) {
	j := i + 1
	high := s.high
	for {
		// The plain run, eight bytes at a time.
		for j+8 <= len(b) {
			x := binary.LittleEndian.Uint64(b[j:])
			high |= x
			m := stringStops(x)
			if m != 0 {
				j += bits.TrailingZeros64(m) >> 3
				break
			}
			j += 8
		}
		for j < len(b) && b[j] >= ' ' && b[j] != '"' && b[j] != '\\' {
			high |= uint64(b[j])
			j++
		}
		if j >= len(b) {
			return j, jsonEnd(j, atEOF)
		}
		switch c := b[j]; {
		case c == '"':
			s.high = high // needed only of a value that is JSON
			return j + 1, nil
		case c < ' ':
			return j, syntaxAt(j, c, "in string literal")
		}
		// An escape.
		s.plain = false
		if j+1 >= len(b) {
			return j + 1, cutShort(j+1, atEOF, "in string escape code")
		}
		switch b[j+1] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			j += 2
		case 'u':
			j += 2
			for k := 0; k < 4; k++ {
				if j >= len(b) {
					return j, cutShort(j, atEOF, `in \u hexadecimal character escape`)
				}
				if !isHex(b[j]) {
					return j, syntaxAt(j, b[j], `in \u hexadecimal character escape`)
				}
				j++
			}
		default:
			return j + 1, syntaxAt(j+1, b[j+1], "in string escape code")
		}
	}
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// scanNumber returns the index just past the number that starts at b[i]
// ('-' or a digit): -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?. Its
// end is known only at the byte after it, or at the end of the input.
func scanNumber(b []byte, i int, atEOF bool) (int, error) {
	j := i
	if b[j] == '-' {
		if j++; j >= len(b) {
			return j, cutShort(j, atEOF, "in numeric literal")
		}
		if !isDigit(b[j]) {
			return j, syntaxAt(j, b[j], "in numeric literal")
		}
	}
	if b[j] == '0' {
		j++
	} else {
		for j < len(b) && isDigit(b[j]) {
			j++
		}
	}
	if j < len(b) && b[j] == '.' {
		if j++; j >= len(b) {
			return j, cutShort(j, atEOF, "after decimal point in numeric literal")
		}
		if !isDigit(b[j]) {
			return j, syntaxAt(j, b[j], "after decimal point in numeric literal")
		}
		for j < len(b) && isDigit(b[j]) {
			j++
		}
	}
	if j < len(b) && (b[j] == 'e' || b[j] == 'E') {
		if j++; j < len(b) && (b[j] == '+' || b[j] == '-') {
			j++
		}
		if j >= len(b) {
			return j, cutShort(j, atEOF, "in exponent of numeric literal")
		}
		if !isDigit(b[j]) {
			return j, syntaxAt(j, b[j], "in exponent of numeric literal")
		}
		for j < len(b) && isDigit(b[j]) {
			j++
		}
	}
	if j >= len(b) && !atEOF {
		return j, errJSONNeedMore
	}
	return j, nil
}

// scanLiteral returns the index just past lit (true, false or null),
// which starts at b[i].
func scanLiteral(b []byte, i int, lit string, atEOF bool) (int, error) {
	for k := 1; k < len(lit); k++ {
		if i+k >= len(b) {
			return i + k, cutShort(i+k, atEOF, "in literal "+lit+" (expecting "+quoteJSONChar(lit[k])+")")
		}
		if b[i+k] != lit[k] {
			return i + k, syntaxAt(i+k, b[i+k], "in literal "+lit+" (expecting "+quoteJSONChar(lit[k])+")")
		}
	}
	return i + len(lit), nil
}

// validJSON reports whether b is one JSON value with white space around
// it, as json.Valid does, nested at most maxDepth levels.
func (s *jsonScanner) validJSON(b []byte, maxDepth int) bool {
	i := skipSpace(b, 0)
	n, err := s.scan(b[i:], true, maxDepth)
	return err == nil && skipSpace(b, i+n) == len(b)
}

// A jsonStream reads a JSON document from src a value or a byte at a
// time, through a buffer it keeps from document to document.
type jsonStream struct {
	src   io.Reader
	buf   []byte
	r, w  int   // buf[r:w] is read from src and not yet taken
	off   int64 // the document offset of buf[0]
	err   error // src's error, once it returned one (io.EOF at its end)
	mark  int64 // where the value or white space being read began
	limit int64 // see setMark
	scan  jsonScanner
}

// reset makes s read a new document from src, keeping its buffer.
func (s *jsonStream) reset(src io.Reader) {
	*s = jsonStream{src: src, buf: s.buf[:cap(s.buf)], scan: s.scan}
}

// setMark bounds what is read from here on, else errObjectTooLarge: each
// value to limit bytes, and each stretch of white space (with the comma
// or colon in it) to as much again. Each is counted on its own, so that
// a value of limit bytes is read wherever it stands, and white space
// (which is not kept) cannot make a client refused for the place of a
// value rather than its size.
func (s *jsonStream) setMark(limit int64) {
	s.mark, s.limit = s.off+int64(s.r), limit
}

// pos is the document offset of the next byte to take.
func (s *jsonStream) pos() int64 { return s.off + int64(s.r) }

// fill reads more of the document, at least until want bytes are
// buffered past r, or src fails or ends; a buffer it grows holds at most
// most bytes (most >= want). It keeps buf[r:w] and no more.
func (s *jsonStream) fill(want, most int) {
	if s.r > 0 {
		n := copy(s.buf, s.buf[s.r:s.w])
		s.off += int64(s.r)
		s.r, s.w = 0, n
	}
	if want > len(s.buf) {
		b := make([]byte, max(want, min(max(2*len(s.buf), 4096), most)))
		copy(b, s.buf[:s.w])
		s.buf = b
	}
	for empty := 0; s.w < want && s.err == nil; {
		n, err := s.src.Read(s.buf[s.w:])
		if n < 0 || n > len(s.buf)-s.w {
			s.err = errJSONInvalidRead
			return
		}
		s.w += n
		switch {
		case err != nil:
			s.err = err
		case n > 0:
			empty = 0
		default:
			if empty++; empty == 100 {
				// A reader that makes no progress: give up as
				// bufio.Reader does, rather than spin.
				s.err = io.ErrNoProgress
			}
		}
	}
}

// errJSONInvalidRead is a body whose Read returned a count out of range.
var errJSONInvalidRead = errors.New("the body's Read returned an invalid count")

// over reports whether the stretch begun at setMark has gone past its
// limit by the time the document reaches offset end.
func (s *jsonStream) over(end int64) bool { return end-s.mark > s.limit }

// peek returns the next byte that is not white space, leaving it to be
// taken. At the end of the document it returns io.EOF, and src's error if
// it failed.
func (s *jsonStream) peek() (byte, error) {
	for {
		s.r = skipSpace(s.buf[:s.w], s.r)
		if s.r < s.w {
			if s.over(s.pos()) {
				return 0, errObjectTooLarge
			}
			return s.buf[s.r], nil
		}
		if s.over(s.pos()) {
			return 0, errObjectTooLarge
		}
		if s.err != nil {
			return 0, s.err
		}
		s.fill(s.w-s.r+512, 4096)
	}
}

// value returns the JSON value that comes next (after white space), a
// view of s's buffer valid until the next call to a method of s, nested
// at most maxDepth levels.
//
// A value is scanned from its start each time more of it arrives, but
// only once the bytes held have doubled (or the document ends), so that
// a value trickling in a byte at a time is looked at no more than about
// twice in all.
func (s *jsonStream) value(maxDepth int) ([]byte, error) {
	if _, err := s.peek(); err != nil {
		return nil, s.noEOF(err)
	}
	s.mark = s.pos()
	for {
		atEOF := s.err != nil
		n, err := s.scan.scan(s.buf[s.r:s.w], atEOF, maxDepth)
		if err == nil {
			if s.over(s.pos() + int64(n)) {
				return nil, errObjectTooLarge
			}
			v := s.buf[s.r : s.r+n]
			s.r += n
			s.mark = s.pos()
			return v, nil
		}
		if err != errJSONNeedMore {
			var se *jsonSyntaxError
			if errors.As(err, &se) {
				se.Offset += s.pos()
				if se.Offset == s.off+int64(s.w) && s.err != nil {
					if s.err != io.EOF {
						return nil, s.err // not the document's end: src failed
					}
					// Cut short by the document's end, as a Decoder
					// says it.
					return nil, fmt.Errorf("%w at byte %d", io.ErrUnexpectedEOF, se.Offset)
				}
			}
			return nil, err
		}
		if s.over(s.off + int64(s.w)) {
			return nil, errObjectTooLarge
		}
		// Read no further than the stretch's end and one byte, which
		// is enough to tell a value too large. (room is counted from
		// r, where the value starts, and is past what is held, else
		// the value would be over; mark+limit may overflow, with a
		// limit of math.MaxInt64.)
		most := int64(math.MaxInt)
		if room := s.limit - (s.pos() - s.mark); room < most {
			most = room + 1
		}
		s.fill(int(min(int64(2*(s.w-s.r)+512), most)), int(most))
	}
}

// noEOF is err, but io.ErrUnexpectedEOF, and where, for io.EOF: the
// document ended inside a value.
func (s *jsonStream) noEOF(err error) error {
	if err == io.EOF {
		return fmt.Errorf("%w at byte %d", io.ErrUnexpectedEOF, s.pos())
	}
	return err
}

// take takes the byte peek returned; the white space after it is a
// stretch of its own.
func (s *jsonStream) take() {
	s.r++
	s.mark = s.pos()
}

// syntax is encoding/json's error for byte c, the next one, where context
// says what the reader was looking for.
func (s *jsonStream) syntax(c byte, context string) error {
	return syntaxAt(s.pos(), c, context)
}

// syntaxBefore is syntax's error for the byte just taken.
func (s *jsonStream) syntaxBefore(c byte, context string) error {
	return syntaxAt(s.pos()-1, c, context)
}

// retained is the memory s keeps for the next document.
func (s *jsonStream) retained() int { return cap(s.buf) }
