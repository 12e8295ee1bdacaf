module github.com/mixedcodec/mixed/bench

go 1.26.0

replace github.com/mixedcodec/mixed => ../

require (
	github.com/emersion/go-message v0.18.2
	github.com/google/go-cmp v0.7.0
	github.com/mixedcodec/mixed v0.0.0-00010101000000-000000000000
	github.com/valyala/fasthttp v1.77.0
)

require (
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/molecule-man/go-brrr v1.3.0 // indirect
	github.com/valyala/bytebufferpool v1.0.0 // indirect
	golang.org/x/tools v0.51.0 // indirect
)
