package batch

import "strings"

// Content-IDs tie a batch's response parts to its calls (Google's batch
// documentation): the response to the call whose part has Content-ID X
// carries Content-ID "response-X", inside the angle brackets when X has
// them ("<item1:x>" answers as "<response-item1:x>"). A call's id is its
// Content-ID without the angle brackets. OData mode echoes X unchanged.

// responsePrefix is what a response's Content-ID adds to its call's.
const responsePrefix = "response-"

// appendResponseID appends the response Content-ID for a call's Content-ID
// cid: responsePrefix inserted after a leading "<", or before the value.
func appendResponseID(dst, cid []byte) []byte {
	if len(cid) > 0 && cid[0] == '<' {
		dst = append(dst, '<')
		dst = append(dst, responsePrefix...)
		return append(dst, cid[1:]...)
	}
	dst = append(dst, responsePrefix...)
	return append(dst, cid...)
}

// requestID is the id of a call whose part has Content-ID cid: cid
// without white space around it or angle brackets.
func requestID(cid []byte) string {
	s := strings.TrimSpace(string(cid))
	if len(s) >= 2 && s[0] == '<' && s[len(s)-1] == '>' {
		s = s[1 : len(s)-1]
	}
	return s
}

// callID is the id of the call that a response part with Content-ID cid
// answers: requestID without responsePrefix and the white space some
// servers put after it (an id echoed unchanged, as OData does, stays as it
// is).
func callID(cid []byte) string {
	return strings.TrimSpace(strings.TrimPrefix(requestID(cid), responsePrefix))
}
