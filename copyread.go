package mixed

import (
	"bytes"
	"io"
	"iter"
	"net/http"
)

// DefaultMaxCopyBytes is the default of [CopyOptions.MaxCopyBytes].
const DefaultMaxCopyBytes = 64 << 20

// CopyOptions configures the copying iterators [ReadPartsOptions] and
// [ReadResponsesOptions]. A zero or negative field selects its default, so
// the zero value means "all defaults".
type CopyOptions struct {
	// Reader holds the limits of the multipart body: MaxHeaderBytes and
	// MaxHeaderFields for each part's header, MaxParts, and so on, as for
	// a [Reader].
	Reader ReaderOptions
	// Message holds the limits of each part's embedded HTTP message (the
	// head's MaxStartLineBytes, MaxHeaderBytes and MaxHeaderFields), as
	// for a [MessageReader]; ReadParts does not use it.
	Message MessageOptions
	// MaxCopyBytes limits the bytes the iterator copies, all parts
	// together (default 64 MiB, DefaultMaxCopyBytes): the names and
	// values of each part's header fields and its body for ReadParts;
	// for ReadResponses, those and the reason phrase, header and trailer
	// fields and decoded body of each embedded response. Going over it is
	// an error wrapping ErrCopyTooLarge, so that a hostile peer cannot
	// make the iterator allocate without bound, whatever the caller
	// keeps.
	MaxCopyBytes int64
}

// A CopiedPart is a part read by [ReadParts]: its header and its whole body,
// copied out of the input, so that both stay valid after the next part and
// for as long as the caller keeps them.
type CopiedPart struct {
	// Header is the part's header, a copy.
	Header Header
	// Body is the part's body, raw (no Content-Transfer-Encoding decoding).
	Body []byte
}

// A CopiedResponse is one response of a batch response read by
// [ReadResponses] or [Responses]: the Content-ID and header of its part,
// and the embedded response as a net/http one whose body is a copy in
// memory, so that it stays valid after the next part.
type CopiedResponse struct {
	// ContentID is the part's Content-ID as written, angle brackets
	// included (Google's "<response-item1>"); "" when the part has none.
	// It names the call the response answers.
	ContentID string
	// PartHeader is the part's header (Content-Type, Content-ID, ...), a
	// copy.
	PartHeader Header
	// Response is the embedded response, as [Response.HTTPResponse]
	// converts it (Header names canonicalized, Trailer filled), with a
	// Body that reads the copy and never fails; closing it is not needed.
	// Its Request is nil.
	Response *http.Response
}

// ReadParts returns an iterator over the parts of the multipart body read
// from r and delimited by boundary, with the default [CopyOptions]: the
// convenient, allocating path beside [Reader.NextPart], whose Part and views
// are valid until the next part only. Each [CopiedPart] holds a copy of the
// part's header and its whole body.
//
// The iterator reads r as the loop goes: breaking out of the loop leaves the
// rest of r unread, and ranging over the iterator again goes on with the
// next part. An error (the [Reader]'s, r's, or one wrapping
// [ErrCopyTooLarge]) is yielded once with a nil part, after which the
// iterator yields the same error again if ranged over again; a well-formed
// body ends the loop without error.
func ReadParts(r io.Reader, boundary string) iter.Seq2[*CopiedPart, error] {
	return ReadPartsOptions(r, boundary, CopyOptions{})
}

// ReadPartsOptions is like [ReadParts] with explicit options.
func ReadPartsOptions(r io.Reader, boundary string, opts CopyOptions) iter.Seq2[*CopiedPart, error] {
	c := newCopier(r, boundary, opts)
	return func(yield func(*CopiedPart, error) bool) {
		for {
			cp, err := c.nextPart()
			if err == io.EOF {
				return
			}
			if !yield(cp, err) || err != nil {
				return
			}
		}
	}
}

// ReadResponses returns an iterator over the responses of a batch response
// body read from r and delimited by boundary, with the default
// [CopyOptions]: each part must hold an HTTP/1.1 response (Content-Type:
// application/http), read as [MessageReader.ReadFinalResponse] reads it
// (interim 1xx responses skipped). It is the convenient, allocating path
// beside [Reader], [MessageReader] and [Response.HTTPResponse], whose bodies
// stream from the input and die at the next part: each [CopiedResponse]
// holds a copy of its part's header and of the response, body included.
//
// The iterator reads r as [ReadParts] does, with the same behaviour on
// breaking out of the loop and on errors. A part that holds no HTTP
// response (a nested multipart body, an OData changeset) is an error: read
// such a body with ReadParts or a [Reader].
func ReadResponses(r io.Reader, boundary string) iter.Seq2[*CopiedResponse, error] {
	return ReadResponsesOptions(r, boundary, CopyOptions{})
}

// ReadResponsesOptions is like [ReadResponses] with explicit options.
func ReadResponsesOptions(r io.Reader, boundary string, opts CopyOptions) iter.Seq2[*CopiedResponse, error] {
	c := newCopier(r, boundary, opts)
	return func(yield func(*CopiedResponse, error) bool) {
		for {
			cr, err := c.nextResponse()
			if err == io.EOF {
				return
			}
			if !yield(cr, err) || err != nil {
				return
			}
		}
	}
}

// Responses returns an iterator over the responses of resp, a batch
// response received with net/http: [ReadResponses] over resp.Body with the
// boundary of resp's Content-Type (see [ParseBoundary]), whose error, if
// any, the iterator yields first and only. It neither checks resp's status
// nor closes resp.Body: the caller does, as for any response. For other
// limits than the default [CopyOptions], call [ParseBoundary] and
// [ReadResponsesOptions].
func Responses(resp *http.Response) iter.Seq2[*CopiedResponse, error] {
	boundary, err := ParseBoundary(resp.Header.Get("Content-Type"))
	if err != nil {
		return func(yield func(*CopiedResponse, error) bool) { yield(nil, err) }
	}
	return ReadResponses(resp.Body, boundary)
}

// copier is the state of a copying iterator, kept outside the iterator
// function so that ranging again goes on where the last loop stopped.
type copier struct {
	r      *Reader
	mr     *MessageReader
	mopts  MessageOptions
	budget int64 // bytes that may still be copied
	err    error // sticky: the error already yielded
}

func newCopier(r io.Reader, boundary string, opts CopyOptions) *copier {
	max := opts.MaxCopyBytes
	if max <= 0 {
		max = DefaultMaxCopyBytes
	}
	return &copier{r: NewReaderOptions(r, boundary, opts.Reader), mopts: opts.Message, budget: max}
}

// take counts n bytes against the budget.
func (c *copier) take(n int) error {
	if int64(n) > c.budget {
		return errCopyTooLarge()
	}
	c.budget -= int64(n)
	return nil
}

// errCopyTooLarge has no offset: the limit is on what the iterator keeps,
// not on one place of the input.
func errCopyTooLarge() error { return argErr(ErrCopyTooLarge, "over CopyOptions.MaxCopyBytes") }

// headerBytes is what copying h costs: its names and values.
func headerBytes(h *Header) int {
	n := 0
	for name, value := range h.All() {
		n += len(name) + len(value)
	}
	return n
}

// readAll copies the rest of src within the budget.
func (c *copier) readAll(src io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(src, c.budget))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) == c.budget {
		// At the limit: one more byte means over it.
		var one [1]byte
		if n, err := io.ReadFull(src, one[:]); n > 0 {
			return nil, errCopyTooLarge()
		} else if err != io.EOF {
			return nil, err
		}
	}
	return b, c.take(len(b))
}

// next returns the next part with its header counted, or the sticky error.
func (c *copier) next() (*Part, error) {
	if c.err != nil {
		return nil, c.err
	}
	p, err := c.r.NextPart()
	if err == nil {
		err = c.take(headerBytes(&p.Header))
	}
	return p, err
}

func (c *copier) nextPart() (*CopiedPart, error) {
	p, err := c.next()
	var cp *CopiedPart
	if err == nil {
		cp = &CopiedPart{Header: *p.Header.Clone()}
		cp.Body, err = c.readAll(p)
	}
	if err != nil {
		return nil, c.fail(err)
	}
	return cp, nil
}

func (c *copier) nextResponse() (*CopiedResponse, error) {
	p, err := c.next()
	if err != nil {
		return nil, c.fail(err)
	}
	if c.mr == nil {
		c.mr = NewMessageReaderOptions(p, c.mopts)
	} else {
		c.mr.Reset(p)
	}
	m, err := c.mr.ReadFinalResponse("")
	if err == nil {
		err = c.take(len(m.Reason) + headerBytes(&m.Header))
	}
	if err != nil {
		return nil, c.fail(err)
	}
	cr := &CopiedResponse{ContentID: p.Header.Get("Content-ID"), PartHeader: *p.Header.Clone()}
	cr.Response = m.HTTPResponse(nil)
	body, err := c.readAll(cr.Response.Body) // fills cr.Response.Trailer at its end
	if err == nil {
		err = c.take(headerBytes(&m.Trailer))
	}
	if err != nil {
		return nil, c.fail(err)
	}
	if cr.Response.Body != http.NoBody {
		cr.Response.Body = io.NopCloser(bytes.NewReader(body))
	}
	return cr, nil
}

// fail makes err sticky; io.EOF, the end of the body, is sticky in the
// Reader itself.
func (c *copier) fail(err error) error {
	if err != io.EOF {
		c.err = err
	}
	return err
}
