package mixed

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"
)

// TestPropPreambleFastPath: the fast path for long preambles changes
// nothing: on preambles of lines that look like delimiters or not, lines
// at and around the length limit, either line end, the parts and the
// error (class, offset, reason) are those of the line-by-line scan alone,
// whatever the chunking.
func TestPropPreambleFastPath(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		boundary := rapid.SampledFrom([]string{"B", "bnd", "batch_foobarbaz"}).Draw(t, "boundary")
		maxLine := rapid.SampledFrom([]int{24, 100, 0}).Draw(t, "maxLine")
		L := maxLine
		if L == 0 {
			L = DefaultMaxLineBytes
		}
		lines := rapid.SliceOfN(rapid.SampledFrom([]string{
			"x", "", "--" + boundary + "X", "--" + boundary[:len(boundary)-1], "-", "--",
			strings.Repeat("p", L), strings.Repeat("p", L-1) + "\r", strings.Repeat("p", L+1),
			strings.Repeat("q", L/2+1), "a\rb", "--" + boundary + "--junk", " --" + boundary,
		}), 0, 200).Draw(t, "lines")
		var in []byte
		for len(in) < 1500 {
			in = append(in, strings.Repeat("z", 37)+"\r\n"...)
		}
		for _, l := range lines {
			in = append(in, l...)
			in = append(in, rapid.SampledFrom([]string{"\n", "\r\n"}).Draw(t, "nl")...)
		}
		in = append(in, rapid.SampledFrom([]string{
			"--" + boundary + "\r\n\r\nbody\r\n--" + boundary + "--\r\n",
			"--" + boundary + "\n\nbody\n--" + boundary + "--",
			"--" + boundary + "--\r\n",
			"",
		}).Draw(t, "end")...)
		opts := ReaderOptions{MaxLineBytes: maxLine, BufferSize: rapid.SampledFrom([]int{1, 4096}).Draw(t, "bufsize")}

		saved := preambleFastAfter
		preambleFastAfter = 1 << 62
		want, wantErr := readComplete(bytes.NewReader(in), boundary, opts)
		preambleFastAfter = saved
		for name, src := range map[string]io.Reader{
			"whole":   bytes.NewReader(in),
			"chunked": &chunkedReader{src: in, cuts: genCuts.Draw(t, "cuts")},
			"onebyte": iotest.OneByteReader(bytes.NewReader(in)),
		} {
			got, err := readComplete(src, boundary, opts)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("%s: parts (-line scan +fast path):\n%s", name, diff)
			}
			if errString(err) != errString(wantErr) {
				t.Fatalf("%s: error %v, line scan: %v", name, err, wantErr)
			}
		}
	})
}
