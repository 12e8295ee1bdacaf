package mixed

import "io"

// A BytesReader reads the parts of a multipart body that is already in
// memory, with the rules of [Reader] (same delimiters, limits and errors,
// at the same offsets), without copying the body: there is no read
// buffer, the Reader's machinery works on data itself.
//
// Views and their lifetimes:
//
//   - Body bytes from [Part.ReadChunk] and [Part.WriteTo] are subslices
//     of data: they stay valid, and keep their contents, as long as data is
//     not modified, after NextPart and Reset too. ReadChunk returns the
//     rest of a body as a single view.
//   - [Part.Read] copies body bytes into the caller's buffer.
//   - Header names and values ([Part].Header) are views of data too,
//     not copies, valid as long as data is not modified; except a value
//     unfolded from folded lines, which is assembled in the Header's own
//     buffer and valid until the next call to NextPart or Reset, as with a
//     Reader (see [Header]).
//   - The Part itself is reused: valid until the next NextPart or Reset.
//
// data must not be modified while the BytesReader reads it.
//
// A Reader created with [NewReader] on a Part of a BytesReader reads the
// nested body through Part.Read; to read it in place, pass the part's
// body (one ReadChunk) to another BytesReader.
type BytesReader struct {
	r Reader
}

// memSource is the source of a Reader that reads memory (a BytesReader):
// it has nothing to read, its Reader's buffer is the data.
type memSource struct{}

func (memSource) Read([]byte) (int, error) { return 0, io.EOF }

// NewBytesReader returns a BytesReader that reads the parts of data,
// delimited by boundary, with the default [ReaderOptions].
func NewBytesReader(data []byte, boundary string) *BytesReader {
	return NewBytesReaderOptions(data, boundary, ReaderOptions{})
}

// NewBytesReaderOptions is like [NewBytesReader] with explicit options;
// BufferSize is ignored.
func NewBytesReaderOptions(data []byte, boundary string, opts ReaderOptions) *BytesReader {
	br := new(BytesReader)
	br.r.given = opts // resolved by every Reset, as NewReaderOptions does
	br.Reset(data, boundary)
	return br
}

// Reset discards the BytesReader's state and makes it read data, keeping
// its options. Views of the previous data stay what they were (subslices
// of it); Header views of the Header's own buffer (unfolded values) do
// not. A BytesReader reset for every body
// allocates nothing in steady state.
func (br *BytesReader) Reset(data []byte, boundary string) {
	mr := &br.r
	mr.buf = nil
	mr.Reset(memSource{}, boundary)
	// The whole input is buffered and the end of input is known: the
	// Reader never fills, moves or grows its buffer, so every view it
	// hands out is a view of data.
	mr.buf = data[:len(data):len(data)]
	mr.w = len(data)
	mr.rerr = io.EOF
	// Header lines are subslices of mr.buf: the Header keeps views of
	// them (Header.addView) rather than copies.
	mr.part.Header.ext = mr.buf
}

// NextPart returns the next part, or [io.EOF] after the close delimiter,
// as [Reader.NextPart] does. The Part and its Header are valid until the
// next call to NextPart or Reset; its body views, and its header views but
// unfolded values, are subslices of data.
func (br *BytesReader) NextPart() (*Part, error) {
	if br.r.src == nil {
		return nil, errZeroBytesReader
	}
	return br.r.NextPart()
}
