package mixed

import (
	"errors"
	"strconv"
)

// Sentinel errors. Every error this package returns either is one of these,
// wraps one of these, or wraps an error from the underlying io.Reader or
// io.Writer, so callers can classify failures with [errors.Is].
// Truncated input is reported with [io.ErrUnexpectedEOF] (wrapped in a
// [*SyntaxError] that says where); a clean end of a multipart body is a bare
// [io.EOF].
var (
	// ErrSyntax reports input that is not well-formed multipart or header
	// syntax: a header line without a colon, a bare CR, a control character,
	// a malformed delimiter line.
	ErrSyntax = errors.New("mixed: malformed input")

	// ErrBadBoundary reports a boundary that is empty, longer than 70
	// bytes, or holds characters that RFC 2046 does not allow.
	ErrBadBoundary = errors.New("mixed: invalid boundary")

	// ErrNotMultipart reports a media type that is not multipart/*, or a
	// multipart media type without a boundary parameter.
	ErrNotMultipart = errors.New("mixed: not a multipart media type")

	// ErrHeaderTooLarge reports a part header block longer than
	// ReaderOptions.MaxHeaderBytes.
	ErrHeaderTooLarge = errors.New("mixed: header block too large")

	// ErrTooManyFields reports a part header block with more than
	// ReaderOptions.MaxHeaderFields fields.
	ErrTooManyFields = errors.New("mixed: too many header fields")

	// ErrTooManyParts reports a body with more than ReaderOptions.MaxParts
	// parts.
	ErrTooManyParts = errors.New("mixed: too many parts")

	// ErrLineTooLong reports a preamble line or a delimiter line (with its
	// transport padding) longer than ReaderOptions.MaxLineBytes.
	ErrLineTooLong = errors.New("mixed: line too long")

	// ErrNestingTooDeep reports a Reader created on a Part more than
	// ReaderOptions.MaxDepth levels below the outermost Reader.
	ErrNestingTooDeep = errors.New("mixed: multipart nesting too deep")

	// ErrDelimiterInBody reports a part body, given to a Writer, that holds
	// the writer's own delimiter, which would end the part early for every
	// reader.
	ErrDelimiterInBody = errors.New("mixed: body contains the boundary delimiter")

	// ErrInvalidHeader reports a header field that a Writer refuses to
	// write: a name that is not an RFC 9110 token, or a value with CR, LF,
	// NUL or another control character.
	ErrInvalidHeader = errors.New("mixed: invalid header field")

	// ErrClosed reports a write to a Writer, or to one of its parts, after
	// Close or after a later part was created.
	ErrClosed = errors.New("mixed: write after close")
)

// A SyntaxError describes input that was rejected: what is wrong (Err, one
// of the sentinels above or [io.ErrUnexpectedEOF]), a detail (Reason) and
// where it is (Offset, the byte offset in the stream given to the Reader).
type SyntaxError struct {
	// Offset is the byte offset, from the start of the Reader's input,
	// of the byte at which the problem was detected.
	Offset int64
	// Err is the class of error: a sentinel of this package or
	// io.ErrUnexpectedEOF.
	Err error
	// Reason says what was found, for people; it may be empty.
	Reason string
}

func (e *SyntaxError) Error() string {
	msg := e.Err.Error()
	if len(msg) < 7 || msg[:7] != "mixed: " {
		msg = "mixed: " + msg
	}
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	return msg + " at offset " + strconv.FormatInt(e.Offset, 10)
}

// Unwrap returns e.Err, so that errors.Is(err, ErrHeaderTooLarge) and the
// like work on a *SyntaxError.
func (e *SyntaxError) Unwrap() error { return e.Err }

func syntaxErr(off int64, err error, reason string) *SyntaxError {
	return &SyntaxError{Offset: off, Err: err, Reason: reason}
}
