// Command caddy is Caddy with the batch handler (http.handlers.batch, the
// Caddyfile directive "batch"), built the way xcaddy builds one: Caddy's
// command with its standard modules and this one imported.
//
//	cd caddy && go run ./cmd/caddy run --config Caddyfile
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"
	_ "github.com/mixedcodec/mixed/caddy"
)

func main() {
	caddycmd.Main()
}
