package mixed_test

import (
	"fmt"
	"strings"

	"github.com/mixedcodec/mixed"
)

// Build a part header, look fields up case-insensitively, and keep a copy
// past the Header's next change with Clone. Fields keep their wire order
// and their duplicates.
func ExampleHeader() {
	var h mixed.Header // the zero value is ready to use
	h.Add("Content-Type", "application/http")
	h.Add("content-id", "<item1>")
	h.Add("X-Tag", "a")
	h.Add("X-Tag", "b")

	fmt.Printf("%s\n", h.Get("Content-ID")) // names compare case-insensitively
	fmt.Println(h.Values("x-tag"))          // copies, as Get's
	for v := range h.ValuesBytes("X-TAG") {
		fmt.Printf("x-tag %s\n", v) // views, valid until h changes
	}

	kept := h.Clone() // GetBytes, ValuesBytes and All give views, valid until h changes
	h.Set("X-Tag", "c")
	h.Del("Content-Type")
	for name, value := range h.All() {
		fmt.Printf("%s: %s\n", name, value)
	}
	fmt.Println(kept.Len(), "fields kept:", strings.Join(kept.MIMEHeader()["X-Tag"], ","))
	// Output:
	// <item1>
	// [a b]
	// x-tag a
	// x-tag b
	// content-id: <item1>
	// X-Tag: c
	// 4 fields kept: a,b
}
