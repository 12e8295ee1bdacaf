// Command mixed decodes, encodes and serves multipart/mixed batches.
//
// Usage:
//
//	mixed decode [-boundary B | -content-type VALUE] [-dechunked] [-format F] [FILE]
//	mixed encode [-boundary B | -format F] [-envelope "POST http://host/path"] [-host HOST] [FILE]
//	mixed serve  [-listen ADDR] [-upstream URL] [-path PREFIX] [-json-format F] [timeouts]
//	mixed help [CMD]
//	mixed version
//
// decode reads a batch (a bare multipart/mixed body, or a whole HTTP request
// or response carrying one, as curl -i prints it) and prints one JSON
// object per line: first the envelope, then each part as soon as it is
// read; a JSON batch (OData 4.01's or Microsoft Graph's) is printed as
// the parts that would carry it. encode reads such lines and writes the
// batch back, in multipart/mixed or (-format) a JSON batch format. Both stream: a
// part of any size passes through in bounded memory (see "mixed help
// decode" for how a long part is printed). serve answers
// batch requests, sending each call to an upstream API, or to a built-in
// demo API (the "farm" API of Google's batch documentation) when there is
// no upstream. Run "mixed help CMD" for the flags of each.
//
// Exit status: 0 on success, 1 when the input did not parse (after
// printing what did), 2 for a usage error.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

const usage = `usage:
  mixed decode [-boundary B | -content-type VALUE] [-dechunked] [-format F] [FILE]
  mixed encode [-boundary B | -format F] [-envelope "POST http://host/path"] [-host HOST] [FILE]
  mixed serve  [-listen ADDR] [-upstream URL] [-path PREFIX] [-json-format F] [timeouts]
  mixed help [CMD]
  mixed version
Run "mixed help CMD" for details.
`

// run is the whole command, in-process, so that tests can drive it.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		return usageErr(stderr, "mixed", "no command given")
	}
	switch args[0] {
	case "decode":
		return decodeCmd(args[1:], stdin, stdout, stderr)
	case "encode":
		return encodeCmd(args[1:], stdin, stdout, stderr)
	case "serve":
		return serveCmd(args[1:], stdout, stderr)
	case "version":
		if len(args) > 1 {
			return usageErr(stderr, "mixed", "version takes no arguments")
		}
		fmt.Fprintln(stdout, version())
		return 0
	case "help":
		switch {
		case len(args) == 1:
		case len(args) > 2:
			return usageErr(stderr, "mixed", "help takes at most one command")
		case args[1] == "decode" || args[1] == "encode" || args[1] == "serve":
			return run([]string{args[1], "-help"}, stdin, stdout, stderr)
		default:
			return usageErr(stderr, "mixed", fmt.Sprintf("help: unknown command %q", args[1]))
		}
		fmt.Fprint(stdout, usage)
		return 0
	case "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	return usageErr(stderr, "mixed", fmt.Sprintf("unknown command %q", args[0]))
}

// version is the module's version from the build info (a tag when built
// with go install ...@version, else "(devel)" with the VCS revision).
func version() string {
	v := "(unknown)"
	var rev, modified string
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value
			}
		}
	}
	s := "mixed " + v
	if rev != "" {
		s += " " + rev
		if modified == "true" {
			s += "+modified"
		}
	}
	return s + " " + runtime.Version()
}

// usageErr reports a usage error in one line, points to the help and
// returns exit status 2. cmd is "mixed" or "mixed decode" and so on.
func usageErr(stderr io.Writer, cmd, msg string) int {
	help := cmd + " -help"
	if cmd == "mixed" {
		help = "mixed help"
	}
	fmt.Fprintf(stderr, "%s: %s\nrun %q for usage\n", cmd, msg, help)
	return 2
}

// parseFlags parses the flags of a command. It returns -1 when the
// arguments were parsed, else the exit status: 0 after -help (printed on
// stdout), 2 after a usage error (one line on stderr).
func parseFlags(fs *flag.FlagSet, help string, args []string, stdout, stderr io.Writer) int {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, help)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return 0
	}
	if err != nil {
		return usageErr(stderr, "mixed "+fs.Name(), err.Error())
	}
	return -1
}

// errText is err's message without the package prefixes that wrapped
// errors repeat ("mixed: ... : mixed: ..."), so that the command prints
// one prefix per message.
func errText(err error) string {
	s := err.Error()
	s = strings.TrimPrefix(s, "mixed: ")
	return strings.ReplaceAll(s, ": mixed: ", ": ")
}

// fail prints a runtime error with one prefix and returns exit status 1.
func fail(stderr io.Writer, err error) int {
	fmt.Fprintf(stderr, "mixed: %s\n", errText(err))
	return 1
}

// openInput returns the named file, or stdin for "" and "-".
func openInput(name string, stdin io.Reader) (io.ReadCloser, error) {
	if name == "" || name == "-" {
		return io.NopCloser(stdin), nil
	}
	return os.Open(name)
}
