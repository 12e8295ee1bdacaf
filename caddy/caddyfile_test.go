package caddybatch

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/google/go-cmp/cmp"
	"github.com/mixedcodec/mixed/batch"
)

// adapt turns a Caddyfile into JSON config, failing on warnings.
func adapt(t *testing.T, caddyfile string) (map[string]any, error) {
	t.Helper()
	out, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), map[string]any{"filename": "Caddyfile"})
	if err != nil {
		return nil, err
	}
	if len(warnings) > 0 {
		t.Errorf("warnings: %v", warnings)
	}
	var cfg map[string]any
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg, nil
}

// handlers lists the handlers of a JSON config in the order its routes
// run them, subroutes flattened.
func handlers(v any) []map[string]any {
	var out []map[string]any
	switch v := v.(type) {
	case map[string]any:
		if h, ok := v["handler"]; ok && h != "subroute" {
			out = append(out, v)
		}
		for _, k := range []string{"apps", "http", "servers", "srv0", "routes", "handle"} {
			if c, ok := v[k]; ok {
				out = append(out, handlers(c)...)
			}
		}
	case []any:
		for _, c := range v {
			out = append(out, handlers(c)...)
		}
	}
	return out
}

// TestCaddyfileEveryOption: every option of the directive lands in the
// handler's JSON config, and the directive runs before reverse_proxy
// whatever its place in the site block.
func TestCaddyfileEveryOption(t *testing.T) {
	cfg, err := adapt(t, `:8080 {
	reverse_proxy 127.0.0.1:9001 127.0.0.1:9002
	batch /batch {
		max_calls 500
		max_body_bytes 10MiB
		max_part_bytes 1MB
		concurrency 16
		max_buffered_bytes 32MiB
		max_total_buffered_bytes 1GiB
		call_timeout 1m30s
		path_prefix /api
		max_epilogue_bytes 4KiB
		references
		halt_on_error
		halt_header X-Batch-Halt-On-Error
		changesets
		odata
		multipart_only
		json_format odata
		max_json_depth 32
	}
}
`)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	var got map[string]any
	for _, h := range handlers(cfg) {
		names = append(names, h["handler"].(string))
		if h["handler"] == "batch" {
			got = h
		}
	}
	if diff := cmp.Diff([]string{"batch", "reverse_proxy"}, names); diff != "" {
		t.Errorf("handlers in order (-want +got):\n%s", diff)
	}
	want := map[string]any{
		"handler":                  "batch",
		"max_calls":                500.0,
		"max_body_bytes":           10485760.0,
		"max_part_bytes":           1e6,
		"concurrency":              16.0,
		"max_buffered_bytes":       33554432.0,
		"max_total_buffered_bytes": 1073741824.0,
		"call_timeout":             9e10,
		"path_prefix":              "/api",
		"max_epilogue_bytes":       4096.0,
		"result_references":        true,
		"halt_on_error":            true,
		"halt_header":              "X-Batch-Halt-On-Error",
		"changesets":               true,
		"odata":                    true,
		"multipart_only":           true,
		"json_format":              "odata",
		"max_json_depth":           32.0,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("batch handler config (-want +got):\n%s", diff)
	}
}

// TestCaddyfileDefaults: a bare directive is the handler with every
// default.
func TestCaddyfileDefaults(t *testing.T) {
	cfg, err := adapt(t, ":8080\n\nbatch /batch\n\nreverse_proxy 127.0.0.1:9001\n")
	if err != nil {
		t.Fatal(err)
	}
	hs := handlers(cfg)
	if len(hs) == 0 {
		t.Fatal("no handlers")
	}
	if diff := cmp.Diff(map[string]any{"handler": "batch"}, hs[0]); diff != "" {
		t.Errorf("batch handler config (-want +got):\n%s", diff)
	}
}

// TestCaddyfileErrors: a wrong option is an error that names it and its
// line.
func TestCaddyfileErrors(t *testing.T) {
	for _, tc := range []struct{ block, want string }{
		{"max_calls", "wrong argument count or unexpected line ending after 'max_calls'"},
		{"max_calls 0", "max_calls 0: value out of range"},
		{"max_calls many", `max_calls many: strconv.Atoi: parsing "many": invalid syntax`},
		{"concurrency 4 8", "concurrency takes one argument"},
		{"max_body_bytes lots", "max_body_bytes lots"},
		{"max_total_buffered_bytes 0", "max_total_buffered_bytes 0: value out of range"},
		{"max_total_buffered_bytes lots", "max_total_buffered_bytes lots"},
		{"call_timeout 0s", "call_timeout 0s: value out of range"},
		{"references yes", "references takes no argument"},
		{"concurency 4", `unknown batch option "concurency"`},
	} {
		_, err := adapt(t, ":8080\n\nbatch {\n\t"+tc.block+"\n}\n")
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "Caddyfile:4") {
			t.Errorf("%q: error %v, want one with %q at Caddyfile:4", tc.block, err, tc.want)
		}
	}
	if _, err := adapt(t, ":8080\n\nbatch /batch extra\n"); err == nil {
		t.Error("a second argument after the matcher: no error")
	}
}

// TestReadmeCaddyfile: the Caddyfile that the README shows is this
// module's Caddyfile, and it adapts.
func TestReadmeCaddyfile(t *testing.T) {
	file, err := os.ReadFile("Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "```caddyfile\n"+string(file)+"```\n") {
		t.Error("the README's Caddy section does not show caddy/Caddyfile as it is")
	}
	cfg, err := adapt(t, string(file))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, h := range handlers(cfg) {
		names = append(names, h["handler"].(string))
	}
	if diff := cmp.Diff([]string{"batch", "reverse_proxy"}, names); diff != "" {
		t.Errorf("handlers in order (-want +got):\n%s", diff)
	}
}

// TestJSONOptions: each field of the module's JSON config is the
// batch.HandlerOptions field of the same name.
func TestJSONOptions(t *testing.T) {
	var b Batch
	err := json.Unmarshal([]byte(`{
		"max_calls": 500, "max_body_bytes": 1000000, "max_part_bytes": 2000,
		"concurrency": 16, "max_buffered_bytes": 3000, "max_total_buffered_bytes": 9000,
		"call_timeout": "1m30s",
		"path_prefix": "/api", "max_epilogue_bytes": 4000,
		"result_references": true, "halt_on_error": true,
		"halt_header": "X-Batch-Halt-On-Error", "changesets": true, "odata": true,
		"multipart_only": true, "json_format": "graph", "max_json_depth": 32
	}`), &b)
	if err != nil {
		t.Fatal(err)
	}
	want := batch.HandlerOptions{
		MaxCalls: 500, MaxBodyBytes: 1000000, MaxPartBytes: 2000,
		Concurrency: 16, MaxBufferedBytes: 3000, MaxTotalBufferedBytes: 9000, CallTimeout: 90 * time.Second,
		PathPrefix: "/api", MaxEpilogueBytes: 4000,
		ResultReferences: true, HaltOnError: true,
		HaltHeader: "X-Batch-Halt-On-Error", Changesets: true, OData: true,
		MultipartOnly: true, JSONFormat: batch.FormatGraphJSON, MaxJSONDepth: 32,
	}
	if diff := cmp.Diff(want, b.Options()); diff != "" {
		t.Errorf("options (-want +got):\n%s", diff)
	}
	if err := b.Validate(); err != nil {
		t.Error(err)
	}
	for _, bad := range []Batch{{MaxCalls: -1}, {MaxTotalBufferedBytes: -1}, {CallTimeout: -1}, {PathPrefix: "api"}, {JSONFormat: "multipart"}, {MaxJSONDepth: -1}} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

// TestCaddyfileOrder: batch runs after the middleware directives (here
// rewrite, basic_auth, encode), so that they apply to the batch request
// too, and before every directive that dispatches or responds (handle,
// respond, reverse_proxy), so that none of them takes the batch
// endpoint's requests first, whatever the order of the site block.
func TestCaddyfileOrder(t *testing.T) {
	cfg, err := adapt(t, `:8080 {
	reverse_proxy 127.0.0.1:9001
	respond /x "x"
	handle /h {
		respond "h"
	}
	batch /batch
	encode
	basic_auth /admin/* {
		alice `+aliceHash+`
	}
	rewrite /old /new
}
`)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, h := range handlers(cfg) {
		names = append(names, h["handler"].(string))
	}
	want := []string{"rewrite", "authentication", "encode", "batch", "static_response", "static_response", "reverse_proxy"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("handlers in order (-want +got):\n%s", diff)
	}
}
