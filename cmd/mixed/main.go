// Command mixed decodes, encodes and serves multipart/mixed batches.
//
// Usage:
//
//	mixed decode [-boundary B | -content-type VALUE] [FILE]
//	mixed encode [-boundary B] [-envelope "POST /batch/farm/v1"] [FILE]
//	mixed serve  [-listen ADDR] [-upstream URL] [-path PREFIX]
//
// decode reads a batch (a bare multipart/mixed body, or a whole HTTP request
// or response carrying one) and prints one JSON object per line for each
// part, as soon as the part is read. encode reads such lines and writes the
// batch back. serve answers batch requests, sending each call to an
// upstream API, or to a built-in demo API (the "farm" API of Google's
// batch documentation) when there is no upstream. Run "mixed CMD -help" for
// the flags of each.
//
// Exit status: 0 on success, 1 when the input did not parse (after
// printing what did), 2 for a usage error.
package main

import (
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

const usage = `usage:
  mixed decode [-boundary B | -content-type VALUE] [FILE]
  mixed encode [-boundary B] [-envelope "METHOD TARGET"] [FILE]
  mixed serve  [-listen ADDR] [-upstream URL] [-path PREFIX]
Run "mixed CMD -help" for details.
`

// run is the whole command, in-process, so that tests can drive it.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "decode":
		return decodeCmd(args[1:], stdin, stdout, stderr)
	case "encode":
		return encodeCmd(args[1:], stdin, stdout, stderr)
	case "serve":
		return serveCmd(args[1:], stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "mixed: unknown command %q\n%s", args[0], usage)
	return 2
}

// openInput returns the named file, or stdin for "" and "-".
func openInput(name string, stdin io.Reader) (io.ReadCloser, error) {
	if name == "" || name == "-" {
		return io.NopCloser(stdin), nil
	}
	return os.Open(name)
}
