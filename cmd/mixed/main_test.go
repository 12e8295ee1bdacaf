package main

import (
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDecodeFlagsAndExitStatus(t *testing.T) {
	calendar, err := os.ReadFile("../../testdata/calendar-batch-response.http")
	if err != nil {
		t.Fatal(err)
	}
	_, body, _ := strings.Cut(string(calendar), "\r\n\r\n")
	broken := "--b\r\nContent-Type: application/http\r\n\r\nGET /a\r\nBad Field: x\r\n\r\n--b\r\nContent-Type: application/http\r\n\r\nGET /b\r\n\r\n--b--\r\n"
	truncated := "--b\r\nContent-Type: application/http\r\n\r\nGET /a\r\n\r\n--b\r\nContent-Type: application/http\r\n\r\nGET /b"
	for _, tc := range []struct {
		name      string
		stdin     string
		args      []string
		wantCode  int
		wantParts int
		wantErr   string
	}{
		{"whole response file", "", []string{"decode", "../../testdata/calendar-batch-response.http"}, 0, 3, ""},
		{"whole request on stdin", mustRead(t, "../../testdata/people-batch-request.http"), []string{"decode", "-"}, 0, 2, ""},
		{"-boundary", body, []string{"decode", "-boundary", "batch_foobarbaz"}, 0, 3, ""},
		{"-content-type", body, []string{"decode", "-content-type", "multipart/mixed; boundary=\"batch_foobarbaz\""}, 0, 3, ""},
		{"part that does not parse", broken, []string{"decode"}, 1, 2, "1 part(s) did not parse"},
		{"truncated body", truncated, []string{"decode"}, 1, 1, "unexpected EOF"},
		{"not a batch", "hello\r\n", []string{"decode"}, 1, 0, "mixed: "},
		// Which names the boundary? encode refuses it too (FuzzDecode).
		{"two Content-Types", "HTTP/1.1 200 OK\r\nContent-Type: multipart/mixed; boundary=b\r\nContent-Type: text/plain\r\n\r\n--b--\r\n", []string{"decode"}, 1, 0, "2 Content-Type fields"},
		{"missing file", "", []string{"decode", "no-such-file"}, 1, 0, "no-such-file"},
		{"both flags", "", []string{"decode", "-boundary", "b", "-content-type", "multipart/mixed; boundary=b"}, 2, 0, "-boundary and -content-type cannot both be given"},
		{"unknown flag", "", []string{"decode", "-x"}, 2, 0, "flag provided but not defined"},
		{"no command", "", nil, 2, 0, "no command"},
		{"unknown command", "", []string{"frobnicate"}, 2, 0, "unknown command"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := runCmd(tc.stdin, tc.args...)
			if res.Code != tc.wantCode {
				t.Errorf("exit %d, want %d (stderr %q)", res.Code, tc.wantCode, res.Stderr)
			}
			if n := len(parts(t, res.Stdout)); n != tc.wantParts {
				t.Errorf("%d parts printed, want %d", n, tc.wantParts)
			}
			if !strings.Contains(res.Stderr, tc.wantErr) {
				t.Errorf("stderr %q, want it to contain %q", res.Stderr, tc.wantErr)
			}
			if tc.wantCode == 1 && tc.wantErr != "" && !strings.HasPrefix(res.Stderr, "mixed: ") {
				t.Errorf("stderr %q does not start with \"mixed: \"", res.Stderr)
			}
		})
	}
}

// decode | encode | decode gives the same lines.
func TestDecodeEncodeRoundTrip(t *testing.T) {
	for _, in := range []string{bareBody, mustRead(t, "../../testdata/calendar-batch-request.http"), mustRead(t, "../../testdata/people-batch-response.http")} {
		first := runCmd(in, "decode")
		if first.Code != 0 {
			t.Fatalf("decode: %d %s", first.Code, first.Stderr)
		}
		enc := runCmd(first.Stdout, "encode")
		if enc.Code != 0 {
			t.Fatalf("encode: %d %s", enc.Code, enc.Stderr)
		}
		second := runCmd(enc.Stdout, "decode")
		if diff := cmp.Diff(lines(t, first.Stdout), lines(t, second.Stdout)); diff != "" {
			t.Errorf("decode|encode|decode (-want +got):\n%s", diff)
		}
		// With -envelope, the output is a whole request that decodes the same.
		env := runCmd(first.Stdout, "encode", "-boundary", "batch_x", "-envelope", "POST http://example.com/batch/farm/v1")
		if !strings.HasPrefix(env.Stdout, "POST /batch/farm/v1 HTTP/1.1\r\nHost: example.com\r\nContent-Type: multipart/mixed; boundary=batch_x\r\nContent-Length: ") {
			t.Errorf("-envelope output starts %q", env.Stdout[:min(len(env.Stdout), 120)])
		}
		third := runCmd(env.Stdout, "decode")
		if diff := cmp.Diff(parts(t, first.Stdout), parts(t, third.Stdout)); diff != "" {
			t.Errorf("decode|encode -envelope|decode (-want +got):\n%s", diff)
		}
	}
}

// Usage errors say what is wrong in one line and point to the help; help
// goes to stdout with exit 0.
func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		wantErr string // the first line of stderr
		help    string // the second
	}{
		{nil, "mixed: no command given", "mixed help"},
		{[]string{"frobnicate"}, `mixed: unknown command "frobnicate"`, "mixed help"},
		{[]string{"help", "nope"}, `mixed: help: unknown command "nope"`, "mixed help"},
		{[]string{"version", "x"}, "mixed: version takes no arguments", "mixed help"},
		{[]string{"decode", "a", "b"}, "mixed decode: 2 files given, want at most one", "mixed decode -help"},
		{[]string{"decode", "-boundary", "b", "-content-type", "multipart/mixed; boundary=b"}, "mixed decode: -boundary and -content-type cannot both be given", "mixed decode -help"},
		{[]string{"decode", "-content-type", "text/plain"}, "mixed decode: -content-type: not a multipart media type", "mixed decode -help"},
		{[]string{"decode", "-x"}, "mixed decode: flag provided but not defined: -x", "mixed decode -help"},
		{[]string{"encode", "a", "b"}, "mixed encode: 2 files given, want at most one", "mixed encode -help"},
		{[]string{"encode", "-boundary", "a;b"}, `mixed encode: -boundary: invalid boundary: byte ";" is not an RFC 2046 bchar`, "mixed encode -help"},
		{[]string{"serve", "extra"}, `mixed serve: unexpected argument "extra": serve takes flags only`, "mixed serve -help"},
		{[]string{"serve", "-upstream", "ftp://x"}, `mixed serve: -upstream "ftp://x": want an http or https URL with a host`, "mixed serve -help"},
		{[]string{"serve", "-path", "/"}, `mixed serve: -path "/": want a path below /, which the upstream serves`, "mixed serve -help"},
		{[]string{"serve", "-read-timeout", "soon"}, `mixed serve: invalid value "soon" for flag -read-timeout: parse error`, "mixed serve -help"},
		{[]string{"serve", "-call-timeout", "-1s"}, `mixed serve: -call-timeout -1s: want 0 (none) or more`, "mixed serve -help"},
		{[]string{"serve", "-json-format", "multipart"}, `mixed serve: -json-format "multipart": want odata-json or graph-json`, "mixed serve -help"},
		{[]string{"decode", "-format", "multipart"}, `mixed decode: -format "multipart": want odata-json or graph-json`, "mixed decode -help"},
		{[]string{"encode", "-format", "xml"}, `mixed encode: -format "xml": want multipart, odata-json or graph-json`, "mixed encode -help"},
		{[]string{"encode", "-format", "odata-json", "-boundary", "b"}, "mixed encode: -boundary is for -format multipart", "mixed encode -help"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			res := runCmd("", tc.args...)
			want := cmdResult{Code: 2, Stderr: tc.wantErr + "\nrun \"" + tc.help + "\" for usage\n"}
			if strings.HasPrefix(res.Stderr, tc.wantErr) {
				// Only the start of the message is the test's.
				first, rest, _ := strings.Cut(res.Stderr, "\n")
				want.Stderr = first + "\n" + strings.TrimPrefix(want.Stderr, tc.wantErr+"\n")
				if rest != strings.TrimPrefix(want.Stderr, first+"\n") {
					t.Errorf("second line %q", rest)
				}
			}
			if diff := cmp.Diff(want, res); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			checkOnePrefix(t, res.Stderr)
		})
	}

	for _, cmd := range []string{"decode", "encode", "serve"} {
		for _, args := range [][]string{{cmd, "-help"}, {cmd, "-h"}, {"help", cmd}} {
			res := runCmd("", args...)
			if res.Code != 0 || res.Stderr != "" || !strings.HasPrefix(res.Stdout, "usage: mixed "+cmd) || !strings.Contains(res.Stdout, "\nFlags:\n  -") {
				t.Errorf("%q: exit %d, stderr %q, stdout %.60q...", args, res.Code, res.Stderr, res.Stdout)
			}
		}
	}
	for _, args := range [][]string{{"help"}, {"-help"}, {"--help"}, {"-h"}} {
		if res := runCmd("", args...); res.Code != 0 || res.Stderr != "" || res.Stdout != usage {
			t.Errorf("%q: %+v", args, res)
		}
	}
	res := runCmd("", "version")
	if res.Code != 0 || res.Stderr != "" || !strings.HasPrefix(res.Stdout, "mixed ") || !strings.HasSuffix(res.Stdout, " "+runtime.Version()+"\n") {
		t.Errorf("version: %+v", res)
	}
	// serve's -help prints the defaults of its timeouts.
	help := runCmd("", "serve", "-help").Stdout
	for _, d := range []string{"-read-timeout 2m -write-timeout 10m -idle-timeout 2m -call-timeout 60s\n", "-read-timeout duration", "(default 2m0s)", "-write-timeout duration", "(default 10m0s)", "-idle-timeout duration", "-call-timeout duration", "(default 1m0s)"} {
		if !strings.Contains(help, d) {
			t.Errorf("serve -help lacks %q", d)
		}
	}
}
