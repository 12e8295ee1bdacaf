// Package mixed reads and writes multipart/mixed bodies (RFC 2046 §5.1) as
// streams: the wire format of batch APIs such as Google's batch endpoints
// and OData $batch, where each part usually carries an HTTP/1.1 message
// (Content-Type: application/http).
//
// A [Reader] splits a body into parts; each [Part] has a [Header] and a body
// that can be read with Read, written out with WriteTo, or taken piece by
// piece without copying with ReadChunk. A [Writer] writes parts with their
// headers and closes the body. [ParseBoundary] takes the boundary out of a
// Content-Type value, including the unquoted ones with '=' that Google
// sends and [mime.ParseMediaType] rejects.
//
// # Boundaries
//
// A boundary is 1 to 70 of RFC 2046's bchars (digits, letters,
// '()+_,-./:=? and space) and does not end in a space; [ParseBoundary],
// [NewReader] (and [Reader.Reset]) and [Writer.SetBoundary] all refuse any
// other with an error wrapping [ErrBadBoundary], so that no boundary this
// package reads or writes holds a ';', a quote or a backslash that another
// parser of the Content-Type could read differently. For the same reason
// ParseBoundary refuses a Content-Type that gives the boundary more than
// once, in any form (boundary=, boundary*=, boundary*0=, ..., any case),
// and, as mime.ParseMediaType does, one that gives another parameter twice
// with different values.
//
// # Lifetimes
//
// To avoid copying and allocating, the Reader hands out views into its own
// buffers: a Part and its Header, and the []byte values their methods return,
// are valid until the next call to [Reader.NextPart] or [Reader.Reset]; a
// view from [Part.ReadChunk] is valid until the next call to any method of
// the Part or its Reader. Each has a way to keep a copy: [Header.Clone],
// [Header.MIMEHeader], or append([]byte(nil), view...). In steady state,
// reading a part, looking up its headers and draining its body allocates
// nothing; so does writing a part with a reused Header.
//
// Header's methods say which they return: the []byte ones ([Header.GetBytes],
// [Header.ValuesBytes], [Header.All], [Header.Field]) views, the string
// ones ([Header.Get], [Header.Values]) copies.
//
// The convenient path copies instead: [ReadParts] and [ReadResponses]
// (or [Responses], on an *http.Response) are iterators, for use with range,
// over parts and embedded responses whose headers and bodies are copies,
// valid for as long as the caller keeps them. They allocate for every
// part, and bound what they copy with [CopyOptions.MaxCopyBytes].
//
// Reading a streaming body after its owner moved on is an error, never
// other data: the body of an embedded message read after the next part, a
// Reset or a Close fails with an error wrapping
// [net/http.ErrBodyReadAfterClose] rather than return bytes of another
// part.
//
// # Errors
//
// Errors wrap the sentinels of this package (ErrSyntax, ErrHeaderTooLarge,
// ...) or [io.ErrUnexpectedEOF], usually inside a [*SyntaxError] that gives
// the byte offset where the problem was found and a reason; use [errors.Is]
// and [errors.As]. The end of a well-formed body is a bare [io.EOF]. Errors
// of a Reader or Writer are sticky: after one, every later call returns it.
//
// # Limits
//
// A Reader bounds the memory and work an input can demand, and reports each
// limit with its own error. The defaults, changed through [ReaderOptions]:
//
//   - MaxHeaderBytes: 64 KiB for one part's header block ([ErrHeaderTooLarge]).
//   - MaxHeaderFields: 100 fields per part header ([ErrTooManyFields]).
//   - MaxParts: 10,000 parts per body ([ErrTooManyParts]); mime/multipart has
//     no such limit.
//   - MaxLineBytes: 8 KiB for a preamble line, or for a delimiter line's
//     transport padding ([ErrLineTooLong]).
//   - MaxDepth: 4 levels of Readers created on Parts ([ErrNestingTooDeep]).
//
// Part bodies have no size limit: they stream through the buffer (64 KiB by
// default), so a body of any size takes the same memory. A caller that must
// bound a body wraps the Part in an [io.LimitedReader] or
// [net/http.MaxBytesReader].
//
// # Differences from mime/multipart
//
// Where both accept an input they agree, part for part and byte for byte
// (the tests and fuzz targets check it against mime/multipart), except in
// how they present the same header: header names are kept as written and
// fields in wire order (mime/multipart canonicalizes names and groups them
// in a map); a folded line of only white space adds nothing to a value
// (mime/multipart adds a space); part bodies are returned raw, as by
// NextRawPart (no quoted-printable decoding).
//
// Where only one of them accepts, on purpose:
//
//   - Accepted here, refused by mime/multipart: preamble lines and transport
//     padding over 4 KiB, up to MaxLineBytes (golang/go#26707, #33666);
//     "--boundary--" followed by anything after a part (the rest is
//     epilogue); a CRLF-ended delimiter line in a body whose first
//     delimiter line ended in LF.
//   - Refused here, accepted by mime/multipart: input that ends inside a
//     part header, or right after a delimiter line (mime/multipart returns
//     a clean io.EOF and loses the part; here it is io.ErrUnexpectedEOF);
//     a space between a header name and its colon ("Name : v", which
//     mime/multipart reads as another field, golang/go#34540);
//     "--boundary" followed by padding and then anything but a line end
//     inside a body.
//   - A bare-LF "--boundary--" line before the first part is the close
//     delimiter here, and a preamble line for mime/multipart.
//   - Boundaries (see Boundaries above): a boundary with a byte outside
//     RFC 2046's bchars is refused by NewReader and Writer.SetBoundary
//     (mime/multipart takes any); a Content-Type that gives the boundary
//     more than once (duplicates, even equal ones, which
//     mime.ParseMediaType accepts) or in an RFC 2231 form (boundary*=,
//     boundary*0=, which mime.ParseMediaType prefers to boundary=), or
//     whose parameter list is malformed, is refused by ParseBoundary; an
//     unquoted boundary with bchars that are not token characters
//     (Google's '=') is accepted by ParseBoundary and refused by
//     mime.ParseMediaType. Where both parse a Content-Type, they find the
//     same boundary.
//   - A Writer refuses a part header that a default Reader would refuse
//     (over 100 fields or 64 KiB, [WriterOptions]), and invalid field
//     names and values; mime/multipart's Writer writes them.
//
// A Reader stops at the close delimiter and does not read the epilogue.
//
// # Embedded HTTP messages
//
// Batch parts usually hold an HTTP/1.1 message (Content-Type:
// application/http). A [MessageReader] reads one from a [*Part] (or any
// [io.Reader] holding exactly one message): [MessageReader.ReadRequest]
// and [MessageReader.ReadResponse] return the head as views (method,
// target, status, reason and a [Header] of fields, valid until the next
// Reset or Read method call), and a [MessageBody] that streams the body,
// framed by Content-Length, chunked, or else the rest of the part. From a
// Part, only the head is copied; the body is served as views of the
// Part's buffer. Steady-state reading allocates nothing.
//
// The reader is lenient where real batch peers need it (a request line
// without version, a status line without reason, LF-only heads, a head that
// ends with the part, blank lines after the body) and strict where two
// parsers could frame a message differently: Content-Length with
// Transfer-Encoding, a Trailer field that names a framing field in a
// chunked message, disagreeing or malformed Content-Length, transfer
// codings other than chunked, bare CR, control characters, white space
// before a field's colon, obsolete line folding, bare LF in chunk lines,
// and anything but blank lines after the message (found by ReadRequest or
// ReadResponse for a message without body) are errors, each wrapping its
// own sentinel. Request targets are origin-form (/path?query) only,
// unless [MessageOptions] allows absolute-form (a call could choose
// another host) or OData's service-root-relative form.
//
// # Differences from net/http
//
// Where both [MessageReader] and net/http (http.ReadRequest,
// http.ReadResponse) accept a message, they agree on its method, target,
// status, fields (but the framing fields net/http moves out of its Header)
// and body, except that a request without Content-Length or
// Transfer-Encoding has the rest of the input as body here, and none for
// net/http. The tests and fuzz targets check it, and that where only one
// of them accepts, the reason is one of these:
//
//   - Refused here, accepted by net/http: obsolete line folding, in the
//     head or a trailer section (net/http unfolds it); a Content-Length
//     of more than 19 digits (net/http allows any number of leading
//     zeros); white space in a field name or between it and its
//     colon, in the head or a trailer section (net/http reads
//     "Content-Length : 5" as a field named "Content-Length ");
//     Content-Length with Transfer-Encoding (net/http drops the
//     Content-Length); Transfer-Encoding in an HTTP/1.0 message, several
//     Transfer-Encoding fields, or a coding other than chunked, where
//     net/http ignores them; an HTTP-version other than HTTP/1.0 and
//     HTTP/1.1; a status code that is not three digits from 100 ("+20",
//     "099"), a reason phrase with a control character; an asterisk-form
//     target with a method other than OPTIONS, an empty target (net/http
//     takes "CONNECT  HTTP/1.0" for an empty authority), a '%' in a
//     target not followed by two hex digits (net/http leaves it alone in
//     an opaque absolute URL such as "https:%0X"), and the
//     absolute-form and authority-form targets that [MessageOptions] does
//     not allow;
//     anything but blank lines after the message, be it after a body or
//     after a message without body (Content-Length: 0, 1xx, 204, 304, a
//     response to HEAD), where net/http reads one message and leaves the
//     rest for a next one; a head over the limits of MessageOptions (8 KiB
//     start line, 64 KiB, 100 fields; net/http allows 1 MiB and any number
//     of fields), or a chunked message whose Trailer field declares more
//     names than those 100 fields; a chunk-size line that ends with a
//     bare LF, which net/http read before Go 1.24.2 (CVE-2025-22871).
//   - Accepted here, refused by net/http: empty lines before the start
//     line; a head that the input ends instead of an empty line; a request
//     line without HTTP-version; a target relative to a service root, or
//     in absolute-form, when MessageOptions allow it, that net/http's URL
//     parser refuses (the target is checked as bytes, and parsed by
//     [Request.HTTPRequest]); several Host fields; bare-LF line ends in a
//     trailer section; white space between a chunk size and its chunk
//     extension ("1 ;x", which RFC 9112 allows and net/http reads as a
//     bad chunk size).
//   - [MessageReader.ReadFinalResponse] skips up to 5 interim (1xx)
//     responses as net/http's Transport does, but refuses a 101 Switching
//     Protocols, which net/http returns as the final response.
//
// A [MessageWriter] writes requests and responses from a method, target or
// status, a Header and a body without allocating, or from an
// [net/http.Request] or [net/http.Response]; it validates everything before
// writing a byte, and writes CRLF line ends, a reason phrase on every
// status line and the empty line after every head, which strict peers
// need; it refuses a head that a MessageReader with the same
// [MessageOptions] would refuse for its size. [Request.HTTPRequest] and [Response.HTTPResponse] convert what was
// read to net/http types, taking the scheme and host from a base URL.
//
// References: RFC 2046 §5.1 (multipart), RFC 5322 and RFC 2045 (header
// fields), RFC 9110 and RFC 9112 (HTTP messages).
package mixed
