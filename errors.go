package mixed

import (
	"errors"
	"strconv"
	"strings"
)

// errPrefix begins the text of every error of this package.
const errPrefix = "mixed: "

// Sentinel errors. Every error this package returns about its input or
// arguments either is one of these, wraps one of these, or wraps an error
// from the underlying io.Reader or io.Writer, so callers can classify
// failures with [errors.Is]. Truncated input is reported with
// [io.ErrUnexpectedEOF] (wrapped in a [*SyntaxError] that says where); a
// clean end of a multipart body is a bare [io.EOF].
//
// Their names follow one pattern: ErrBad<thing> for a thing that is
// malformed or refused (ErrSyntax for malformed syntax in general),
// Err<thing>Too<much> for a limit, and a plain statement for a condition
// of the whole input (ErrNotMultipart, ErrDelimiterInBody,
// ErrFramingConflict, ErrDataAfterBody) or of the Writer (ErrClosed).
//
// Misuse of the API by the program, such as [Writer.SetBoundary] after the
// first part, is not bad input: as in the standard library (mime/multipart's
// SetBoundary after a write), it is reported by a plain error that wraps
// none of these sentinels and is no [*SyntaxError].
var (
	// ErrSyntax reports input that is not well-formed multipart or header
	// syntax: a header line without a colon, a bare CR, a control character,
	// a malformed delimiter line.
	ErrSyntax = errors.New(errPrefix + "malformed input")

	// ErrBadBoundary reports a boundary that is empty, longer than 70
	// bytes, or holds characters that RFC 2046 does not allow.
	ErrBadBoundary = errors.New(errPrefix + "invalid boundary")

	// ErrNotMultipart reports a media type that is not multipart/*, or a
	// multipart media type without a boundary parameter.
	ErrNotMultipart = errors.New(errPrefix + "not a multipart media type")

	// ErrHeaderTooLarge reports a part header block longer than
	// ReaderOptions.MaxHeaderBytes, or an embedded message's head or
	// trailer section longer than MessageOptions.MaxHeaderBytes.
	ErrHeaderTooLarge = errors.New(errPrefix + "header block too large")

	// ErrTooManyFields reports a part header block with more than
	// ReaderOptions.MaxHeaderFields fields, or an embedded message's head
	// or trailer section with more than MessageOptions.MaxHeaderFields.
	ErrTooManyFields = errors.New(errPrefix + "too many header fields")

	// ErrTooManyParts reports a body with more than ReaderOptions.MaxParts
	// parts.
	ErrTooManyParts = errors.New(errPrefix + "too many parts")

	// ErrLineTooLong reports a preamble line or a delimiter line (with its
	// transport padding) longer than ReaderOptions.MaxLineBytes.
	ErrLineTooLong = errors.New(errPrefix + "line too long")

	// ErrNestingTooDeep reports a Reader created on a Part more than
	// ReaderOptions.MaxDepth levels below the outermost Reader.
	ErrNestingTooDeep = errors.New(errPrefix + "multipart nesting too deep")

	// ErrDelimiterInBody reports a part body, given to a Writer, that holds
	// the writer's own delimiter, which would end the part early for every
	// reader.
	ErrDelimiterInBody = errors.New(errPrefix + "body contains the boundary delimiter")

	// ErrBadHeader reports a header field that a Writer refuses to
	// write: a name that is not an RFC 9110 token, or a value with CR, LF,
	// NUL or another control character; or, for a [MessageWriter], a
	// framing field (Content-Length, Transfer-Encoding, Trailer) among
	// the trailer fields.
	ErrBadHeader = errors.New(errPrefix + "invalid header field")

	// ErrClosed reports a write to a Writer, or to one of its parts, after
	// Close or after a later part was created.
	ErrClosed = errors.New(errPrefix + "write after close")

	// ErrBadMethod reports an embedded HTTP request whose method is not an
	// RFC 9110 token, read or given to a [MessageWriter].
	ErrBadMethod = errors.New(errPrefix + "invalid HTTP method")

	// ErrBadTarget reports a request target that is empty or holds a
	// space, a control character or DEL.
	ErrBadTarget = errors.New(errPrefix + "invalid request target")

	// ErrBadTargetForm reports a request target in a form that
	// MessageOptions does not allow: absolute-form (https://host/path),
	// authority-form (CONNECT host:port), asterisk-form other than
	// OPTIONS *, or a target relative to a service root
	// (Customers('ALFKI')). By default only origin-form (/path?query) is
	// allowed, so that a call inside a batch cannot choose another host.
	ErrBadTargetForm = errors.New(errPrefix + "request target form not allowed")

	// ErrBadVersion reports an HTTP-version that is not HTTP/1.0 or
	// HTTP/1.1 in a request or status line.
	ErrBadVersion = errors.New(errPrefix + "invalid HTTP version")

	// ErrBadStatus reports a status code that is not exactly three
	// digits from 100 to 999, or a reason phrase with a control
	// character.
	ErrBadStatus = errors.New(errPrefix + "invalid HTTP status")

	// ErrStartLineTooLong reports a request line or status line longer
	// than MessageOptions.MaxStartLineBytes.
	ErrStartLineTooLong = errors.New(errPrefix + "HTTP start line too long")

	// ErrBadContentLength reports a Content-Length that is not a plain
	// non-negative decimal number, overflows int64, or differs from
	// another Content-Length field of the same message; or, for a
	// [MessageWriter], one that differs from the body's length or from
	// another Content-Length field.
	ErrBadContentLength = errors.New(errPrefix + "invalid Content-Length")

	// ErrFramingConflict reports a message with both Content-Length and
	// Transfer-Encoding, or an HTTP/1.0 message with Transfer-Encoding
	// (RFC 9112 §6.1), which two parsers could frame differently (the
	// request smuggling of RFC 9112 §11.2), or a chunked message whose
	// Trailer field declares a framing field a trailer field (RFC 9110
	// §6.5.1); or, for a [MessageWriter], a body given with a status that
	// cannot have one.
	ErrFramingConflict = errors.New(errPrefix + "conflicting message framing")

	// ErrBadTransferEncoding reports a Transfer-Encoding other than the
	// single coding "chunked" (the only one this package decodes; net/http
	// accepts no other either).
	ErrBadTransferEncoding = errors.New(errPrefix + "unsupported Transfer-Encoding")

	// ErrBadChunk reports a malformed chunked body: a chunk size that is
	// not hexadecimal or overflows, a malformed chunk extension, a chunk
	// not followed by its line end.
	ErrBadChunk = errors.New(errPrefix + "malformed chunked body")

	// ErrDataAfterBody reports bytes other than blank lines after the end
	// of an embedded message's body (a Content-Length or chunked body, or
	// a response that has no body): a part holds exactly one message, and
	// nothing after it may be taken for a second one.
	ErrDataAfterBody = errors.New(errPrefix + "data after the message body")

	// ErrCopyTooLarge reports parts that [ReadParts], [ReadResponses] or
	// [Responses] would copy beyond [CopyOptions.MaxCopyBytes].
	ErrCopyTooLarge = errors.New(errPrefix + "too many bytes to copy")
)

// A SyntaxError describes input that was rejected: what is wrong (Err, one
// of the sentinels above or [io.ErrUnexpectedEOF]), a detail (Reason) and
// where it is (Offset, the byte offset in the stream given to the Reader).
//
// Errors that concern no byte of an input (a boundary or a field refused
// by a Writer or a MessageWriter, a Content-Type refused by
// [ParseBoundary], a boundary or a nesting depth refused by a Reader, an
// invalid count from an io.Reader) have Offset -1, and their text gives no
// offset.
type SyntaxError struct {
	// Offset is the byte offset, from the start of the Reader's input,
	// of the byte at which the problem was detected; -1 when the error
	// has no position in an input.
	Offset int64
	// Err is the class of error: a sentinel of this package or
	// io.ErrUnexpectedEOF.
	Err error
	// Reason says what was found, for people; it may be empty.
	Reason string
}

// Error returns the text of the error: one "mixed: " prefix, the class, the
// reason, and the offset when there is one.
func (e *SyntaxError) Error() string {
	msg := errPrefix + "unknown error"
	if e.Err != nil {
		msg = e.Err.Error()
	}
	if !strings.HasPrefix(msg, errPrefix) {
		msg = errPrefix + msg
	}
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	if e.Offset < 0 {
		return msg
	}
	return msg + " at offset " + strconv.FormatInt(e.Offset, 10)
}

// Unwrap returns e.Err, so that errors.Is(err, ErrHeaderTooLarge) and the
// like work on a *SyntaxError.
func (e *SyntaxError) Unwrap() error { return e.Err }

func syntaxErr(off int64, err error, reason string) *SyntaxError {
	return &SyntaxError{Offset: off, Err: err, Reason: reason}
}

// Misuse of the API (see the sentinel errors above).
var (
	errLateBoundary = errors.New(errPrefix + "SetBoundary called after the first part")
	errNoURL        = errors.New(errPrefix + "WriteHTTPRequest of a request without URL")

	// A zero value used without its constructor or Reset.
	errZeroReader        = errors.New(errPrefix + "NextPart of a Reader without source: a zero Reader not Reset, or a nil io.Reader")
	errZeroBytesReader   = errors.New(errPrefix + "NextPart of a zero BytesReader, made by neither NewBytesReader nor Reset")
	errZeroMessageReader = errors.New(errPrefix + "read from a MessageReader without source: a zero MessageReader not Reset, or a nil io.Reader")
	errZeroWriter        = errors.New(errPrefix + "Writer without destination: a zero Writer not Reset, or a nil io.Writer")

	// A read from a part the Reader has left for the next one: it must
	// fail rather than return the next part's bytes.
	errParentGone = errors.New(errPrefix + "nested body read after its Part's Reader moved on")
)

// noOffset is the Offset of a SyntaxError that has no position in an input.
const noOffset = -1

// argErr returns a SyntaxError without position: about an argument, not an
// input.
func argErr(err error, reason string) *SyntaxError {
	return &SyntaxError{Offset: noOffset, Err: err, Reason: reason}
}

// unpositioned returns err with its position removed, for a check shared by
// readers and writers (a writer's arguments have no position).
func unpositioned(err error) error {
	if se, ok := err.(*SyntaxError); ok {
		se.Offset = noOffset
	}
	return err
}
