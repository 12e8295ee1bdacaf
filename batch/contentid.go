package batch

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"
)

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

// maxQuotedID is the most bytes of another call's id that a message
// quotes.
const maxQuotedID = 64

// clip is id as a message about another call quotes it: cut after
// maxQuotedID bytes (at a character boundary), so that a batch whose calls
// all answer 424 because of one call with a long id does not repeat that
// id in each of them. An id as long as a request object would make the
// response a thousand times the request.
func clip(id string) string {
	if len(id) <= maxQuotedID {
		return id
	}
	n := maxQuotedID
	for n > 0 && !utf8.RuneStart(id[n]) {
		n--
	}
	return id[:n] + "…"
}

// callID is the id of the call that a response part with Content-ID cid
// answers: requestID without responsePrefix and the white space some
// servers put around it, inside the angle brackets too (an id echoed
// unchanged, as OData does, stays as it is).
func callID(cid []byte) string {
	return strings.TrimSpace(strings.TrimPrefix(echoedID(cid), responsePrefix))
}

// echoedID is requestID with the white space inside angle brackets
// trimmed too: the id a response part names when it echoes the request's
// Content-ID unchanged.
func echoedID(cid []byte) string {
	return strings.TrimSpace(requestID(cid))
}

// matchKey is a call's id as a Content-ID that names it is matched: a
// server reads a Content-ID "<a>" as the id a, and answers it with
// "<response-a>", which match reads as a. It is the id itself unless the
// id has angle brackets or white space around it (it allocates only
// then).
func matchKey(id string) string {
	if n := len(id); n == 0 || id[0] != '<' && !isSpace(id[0]) && !isSpace(id[n-1]) {
		return id
	}
	return echoedID([]byte(id))
}

// isSpace reports whether c may be (the first or last byte of) white
// space that strings.TrimSpace trims: ASCII white space, or any byte of a
// multi-byte character.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' || c >= 0x80
}

// A matcher ties the parts of a batch response (or of a changeset's
// nested response) to the n units of the request, leniently: a part's
// Content-ID may be the unit's id, "response-" + id, with or without angle
// brackets and white space after "response-" (" <response- 1>"); dotted ids
// ("0.0") are ids like any other. A part without a Content-ID (or with an
// empty one) is matched by its position, which only holds when every part
// is there in order: if the number of parts is not n, the positional
// matches are revoked. A part whose Content-ID names no unit or two, or a
// unit answered twice, is a problem (ErrResponseMismatch) that revokes the
// unit's answer: a part is never given to a call it might not answer.
type matcher struct {
	byID   map[string]int // unit of each id
	n      int
	parts  int
	seen   []int8 // per unit: 0 unanswered, 1 by Content-ID, 2 by position, -1 revoked
	errs   []string
	anyPos bool
	// prefixed: some id starts with "response-", so a Content-ID that
	// does may name a call as it is as well as without the prefix.
	prefixed bool
	// hint is the first id added for each unit, in unit order: servers
	// answer in order, and comparing part i's id with hint[i] costs
	// less than a lookup in byID (a cache miss in a large batch). It
	// stands for the lookup only while no id was added twice (dup).
	hint []string
	dup  bool
}

func newMatcher(n int) *matcher {
	return &matcher{byID: make(map[string]int, n), n: n, seen: make([]int8, n)}
}

// add records that id, a call's id as given to Add, names unit k: the
// id as a part's Content-ID names it (see matchKey).
func (m *matcher) add(id string, k int) {
	id = matchKey(id)
	n := len(m.byID)
	m.byID[id] = k
	m.dup = m.dup || len(m.byID) == n
	m.prefixed = m.prefixed || strings.HasPrefix(id, responsePrefix)
	if k == len(m.hint) {
		m.hint = append(m.hint, id)
	}
}

// lookup returns the unit that id names, if any, for part i.
func (m *matcher) lookup(id []byte, i int) (int, bool) {
	if !m.dup && i < len(m.hint) && string(id) == m.hint[i] {
		return i, true
	}
	k, ok := m.byID[string(id)]
	return k, ok
}

// match returns the unit that part i, with Content-ID cid (nil for none),
// answers, or -1 when it answers none for sure.
func (m *matcher) match(cid []byte, i int) int {
	m.parts++
	how := int8(1)
	k := -1
	// The ids as views of cid: a map lookup by string(b) does not copy.
	exact := bytes.TrimSpace(cid)
	if len(exact) >= 2 && exact[0] == '<' && exact[len(exact)-1] == '>' {
		exact = bytes.TrimSpace(exact[1 : len(exact)-1])
	}
	if len(exact) == 0 {
		how, m.anyPos = 2, true
		if i >= m.n {
			m.errs = append(m.errs, fmt.Sprintf("part %d has no Content-ID and there are %d calls", i+1, m.n))
			return -1
		}
		k = i
	} else {
		// Each id looked up once: exact without the prefix is the id
		// stripped is, and with it is no id unless one is prefixed.
		var ke, ks int
		var oke, oks bool
		if stripped, ok := bytes.CutPrefix(exact, []byte(responsePrefix)); ok {
			if m.prefixed {
				ke, oke = m.lookup(exact, i)
			}
			ks, oks = m.lookup(bytes.TrimSpace(stripped), i)
		} else {
			ke, oke = m.lookup(exact, i)
		}
		switch {
		case oke && oks && ke != ks:
			m.errs = append(m.errs, fmt.Sprintf("part %d: Content-ID %q names two calls", i+1, cid))
			m.seen[ke], m.seen[ks] = -1, -1
			return -1
		case oke:
			k = ke
		case oks:
			k = ks
		default:
			m.errs = append(m.errs, fmt.Sprintf("part %d: Content-ID %q names no call", i+1, cid))
			return -1
		}
	}
	if m.seen[k] != 0 {
		if m.seen[k] > 0 {
			m.errs = append(m.errs, fmt.Sprintf("part %d answers a call answered before", i+1))
		}
		m.seen[k] = -1
		return -1
	}
	m.seen[k] = how
	return k
}

// finish returns, for each unit, whether its answer stands, and the error
// of the response if it had problems.
func (m *matcher) finish() ([]bool, error) {
	if m.anyPos && m.parts != m.n {
		m.errs = append(m.errs, fmt.Sprintf("parts without Content-ID, and %d parts for %d calls", m.parts, m.n))
		for k, s := range m.seen {
			if s == 2 {
				m.seen[k] = -1
			}
		}
	}
	ok := make([]bool, m.n)
	for k, s := range m.seen {
		ok[k] = s > 0
	}
	if len(m.errs) == 0 {
		return ok, nil
	}
	if len(m.errs) > 3 {
		m.errs = append(m.errs[:3], fmt.Sprintf("and %d more", len(m.errs)-3))
	}
	return ok, fmt.Errorf("%w: %s", ErrResponseMismatch, strings.Join(m.errs, "; "))
}
