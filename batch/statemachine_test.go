package batch

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"
)

// The state-machine test drives a Handler with changesets and result
// references in front of a small transactional key-value store, batch after
// batch, and checks every response part and the store's contents against a
// sequential model. Units of a batch that may run concurrently touch
// disjoint keys, so the model's answer does not depend on the schedule.

// smKeys is the store's key space: small, so that batches meet keys that
// earlier batches created, changed or deleted.
var smKeys = []string{"k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9", "k10", "k11"}

// smStore is the inner handler:
//
//	PUT    /kv/{k}      {"v": n}  → 201 (created) or 200, {"k","v"}, Location: /kv/{k}
//	GET    /kv/{k}                → 200 {"k","v"} or 404
//	DELETE /kv/{k}                → 204 or 404
//	POST   /kv/{k}/incr {"by": n} → 200 {"k","v"} or 404
//
// A group holds the store's lock from begin to its end and keeps an undo
// log; a call outside groups takes the lock for itself. A body that is not
// of the expected shape gets 400, any other path 404.
type smStore struct {
	mu   sync.Mutex // held by an open group, or by one call outside groups
	data map[string]int

	// Set between batches, to fail every changeset's begin or commit.
	failBegin, failCommit bool

	statMu   sync.Mutex
	stats    smStats
	problems []string
}

// smStats counts the calls of the group hooks.
type smStats struct {
	Begins, Commits, Rollbacks int
}

func newSMStore() *smStore { return &smStore{data: map[string]int{}} }

func (s *smStore) problem(format string, args ...any) {
	s.statMu.Lock()
	defer s.statMu.Unlock()
	s.problems = append(s.problems, fmt.Sprintf(format, args...))
}

func (s *smStore) count(f func(*smStats)) {
	s.statMu.Lock()
	defer s.statMu.Unlock()
	f(&s.stats)
}

// smTx is a group of the store.
type smTx struct {
	s    *smStore
	undo []smUndo
	// ended and busy catch a Handler that uses a group after its end, or
	// from two calls at once; the race detector would catch the second
	// only as a data race on undo, without saying which rule broke.
	ended atomic.Bool
	busy  atomic.Int32
}

type smUndo struct {
	k   string
	v   int
	had bool
}

func (s *smStore) begin(ctx context.Context) (Group, error) {
	s.count(func(st *smStats) { st.Begins++ })
	if s.failBegin {
		return nil, errors.New("store refuses to begin")
	}
	s.mu.Lock()
	return &smTx{s: s}, nil
}

func (tx *smTx) end(what string) bool {
	if tx.ended.Swap(true) {
		tx.s.problem("%s of a group that has ended", what)
		return false
	}
	return true
}

// Commit makes the group's changes stay, unless the store is set to fail
// commits: then it undoes them, as a database whose commit fails does.
func (tx *smTx) Commit() error {
	if !tx.end("Commit") {
		return errors.New("group ended")
	}
	tx.s.count(func(st *smStats) { st.Commits++ })
	defer tx.s.mu.Unlock()
	if tx.s.failCommit {
		tx.rollback()
		return errors.New("store refuses to commit")
	}
	return nil
}

// Rollback undoes the group's changes.
func (tx *smTx) Rollback() error {
	if !tx.end("Rollback") {
		return errors.New("group ended")
	}
	tx.s.count(func(st *smStats) { st.Rollbacks++ })
	defer tx.s.mu.Unlock()
	tx.rollback()
	return nil
}

func (tx *smTx) rollback() {
	for i := len(tx.undo) - 1; i >= 0; i-- {
		u := tx.undo[i]
		if u.had {
			tx.s.data[u.k] = u.v
		} else {
			delete(tx.s.data, u.k)
		}
	}
	tx.undo = nil
}

// remember logs how to undo a change of key k.
func (tx *smTx) remember(k string) {
	v, had := tx.s.data[k]
	tx.undo = append(tx.undo, smUndo{k, v, had})
}

// with runs f with the store's data: inside the call's group when its
// context carries one, else under the lock for this call alone.
func (s *smStore) with(r *http.Request, f func(data map[string]int, remember func(string))) {
	g := GroupFromContext(r.Context())
	// Members of changesets say so in a header of their own, so that the
	// store can tell a group given to the wrong call, or withheld.
	if member := r.Header.Get("X-Changeset") != ""; member != (g != nil) {
		s.problem("%s %s: changeset member %t, group %v", r.Method, r.URL.Path, member, g)
	}
	if g == nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		f(s.data, func(string) {})
		return
	}
	tx, ok := g.(*smTx)
	if !ok || tx.s != s {
		s.problem("%s %s: a group the store did not begin: %#v", r.Method, r.URL.Path, g)
		return
	}
	if tx.ended.Load() {
		s.problem("%s %s: runs in a group that has ended", r.Method, r.URL.Path)
	}
	if tx.busy.Add(1) != 1 {
		s.problem("%s %s: two calls of one changeset at once", r.Method, r.URL.Path)
	}
	defer tx.busy.Add(-1)
	f(s.data, tx.remember)
}

func (s *smStore) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	reply := func(status int, body any) {
		w.WriteHeader(status)
		if body != nil {
			b, _ := json.Marshal(body)
			w.Write(b)
		}
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/kv/")
	k, incr := strings.CutSuffix(rest, "/incr")
	if !ok || k == "" || strings.Contains(k, "/") || r.Method != "POST" && incr || r.Method == "POST" && !incr {
		reply(http.StatusNotFound, map[string]any{"error": "no route"})
		return
	}
	var in struct {
		V  *int `json:"v"`
		By *int `json:"by"`
	}
	if r.Method == "PUT" || r.Method == "POST" {
		err := json.NewDecoder(r.Body).Decode(&in)
		if err != nil || r.Method == "PUT" && in.V == nil || r.Method == "POST" && in.By == nil {
			reply(http.StatusBadRequest, map[string]any{"error": "bad body"})
			return
		}
	}
	s.with(r, func(data map[string]int, remember func(string)) {
		v, had := data[k]
		switch {
		case r.Method == "PUT":
			remember(k)
			data[k] = *in.V
			w.Header().Set("Location", "/kv/"+k)
			status := http.StatusOK
			if !had {
				status = http.StatusCreated
			}
			reply(status, map[string]any{"k": k, "v": *in.V})
		case !had:
			reply(http.StatusNotFound, map[string]any{"error": "not found", "k": k})
		case r.Method == "GET":
			reply(http.StatusOK, map[string]any{"k": k, "v": v})
		case r.Method == "DELETE":
			remember(k)
			delete(data, k)
			reply(http.StatusNoContent, nil)
		case r.Method == "POST":
			remember(k)
			data[k] = v + *in.By
			reply(http.StatusOK, map[string]any{"k": k, "v": data[k]})
		default:
			reply(http.StatusNotFound, map[string]any{"error": "no route"})
		}
	})
}

// snapshot returns the store's contents, and whether the lock was free: a
// group left open after its batch would hold it.
func (s *smStore) snapshot() (map[string]int, bool) {
	if !s.mu.TryLock() {
		return nil, false
	}
	defer s.mu.Unlock()
	return maps.Clone(s.data), true
}

// An smRef is a result reference, $result[id][key].
type smRef struct{ id, key string }

func (r smRef) String() string { return "$result[" + r.id + "][" + r.key + "]" }

// smCall is one generated call, in the structured form the model reads;
// wire renders the bytes the Handler reads.
type smCall struct {
	id     string // Content-ID without <>, "" for none
	angle  bool   // Content-ID written as <id>
	member bool   // inside a changeset

	method string // GET, PUT, DELETE or POST (incr)
	// The target is /kv/{key}, /kv/{key}/incr for POST, where the key is
	// one of:
	key      string
	keyRef   *smRef // the key is a reference's text
	locOf    string // $locOf: the Location of that changeset member
	raw      string // a literal target, for $-targets that are no member's
	relative bool   // kv/... without the leading slash
	query    bool   // ?q=1 after the path, which the store ignores

	// The body of PUT ({"v": ...}) and POST ({"by": ...}): val, or a
	// reference's value.
	val    int
	valRef *smRef
	noCL   bool // no Content-Length: the body is the rest of the part
}

func (c *smCall) target() string {
	if c.raw != "" {
		return c.raw
	}
	var t string
	switch {
	case c.locOf != "":
		t = "$" + c.locOf
	case c.keyRef != nil:
		t = "/kv/" + c.keyRef.String()
	case c.relative:
		t = "kv/" + c.key
	default:
		t = "/kv/" + c.key
	}
	if c.method == "POST" {
		t += "/incr"
	}
	if c.query {
		t += "?q=1"
	}
	return t
}

func (c *smCall) body() string {
	field := "v"
	if c.method == "POST" {
		field = "by"
	}
	switch {
	case c.method != "PUT" && c.method != "POST":
		return ""
	case c.valRef != nil:
		return fmt.Sprintf(`{%q:%q}`, field, c.valRef.String())
	default:
		return fmt.Sprintf(`{%q:%d}`, field, c.val)
	}
}

func (c *smCall) contentID() string {
	if c.angle {
		return "<" + c.id + ">"
	}
	return c.id
}

// responseID is the Content-ID the response part of the call must carry.
func (c *smCall) responseID() string {
	switch {
	case c.id == "":
		return ""
	case c.angle:
		return "<response-" + c.id + ">"
	}
	return "response-" + c.id
}

// wire writes the call as a part of a multipart body with boundary b.
func (c *smCall) wire(sb *strings.Builder, b string) {
	sb.WriteString("--" + b + "\r\nContent-Type: application/http\r\n")
	if c.id != "" {
		sb.WriteString("Content-ID: " + c.contentID() + "\r\n")
	}
	sb.WriteString("\r\n" + c.method + " " + c.target() + " HTTP/1.1\r\n")
	if c.member {
		sb.WriteString("X-Changeset: 1\r\n")
	}
	if body := c.body(); body != "" {
		sb.WriteString("Content-Type: application/json\r\n")
		if !c.noCL {
			sb.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n")
		}
		sb.WriteString("\r\n" + body)
	} else {
		sb.WriteString("\r\n")
	}
	sb.WriteString("\r\n")
}

// smItem is a top-level part of a batch: a call, or a changeset.
type smItem struct {
	call    *smCall
	csID    string // the changeset part's Content-ID, "" for none
	csAngle bool   // written as <csID>
	members []*smCall
}

type smBatch struct {
	items                 []smItem
	failBegin, failCommit bool
}

func (b *smBatch) wire() string {
	var sb strings.Builder
	for i, it := range b.items {
		if it.call != nil {
			it.call.wire(&sb, "b")
			continue
		}
		cb := "cs" + strconv.Itoa(i)
		sb.WriteString("--b\r\nContent-Type: multipart/mixed; boundary=" + cb + "\r\n")
		if it.csID != "" {
			sb.WriteString("Content-ID: " + (&smCall{id: it.csID, angle: it.csAngle}).contentID() + "\r\n")
		}
		sb.WriteString("\r\n")
		for _, m := range it.members {
			m.wire(&sb, cb)
		}
		sb.WriteString("--" + cb + "--\r\n")
	}
	sb.WriteString("--b--\r\n")
	return sb.String()
}

// smGen draws batches; ids numbers Content-IDs across the whole run, so
// that no two calls of a batch share one.
type smGen struct{ ids int }

func (g *smGen) nextID() string {
	g.ids++
	return strconv.Itoa(g.ids)
}

// batch draws a batch of components: chains of steps (a call or a
// changeset), each step referencing a call of the step before it, so
// that a component's steps run one after another; each component has keys
// of its own. The components' steps are interleaved in the batch.
func (g *smGen) batch(t *rapid.T) *smBatch {
	free := rapid.Permutation(smKeys).Draw(t, "keys")
	var comps [][]smItem
	for n := rapid.IntRange(1, 4).Draw(t, "components"); len(comps) < n && len(free) > 0; {
		nk := rapid.IntRange(1, min(3, len(free))).Draw(t, "component keys")
		comps = append(comps, g.component(t, free[:nk]))
		free = free[nk:]
	}
	b := &smBatch{}
	for len(comps) > 0 {
		i := rapid.IntRange(0, len(comps)-1).Draw(t, "next component")
		b.items = append(b.items, comps[i][0])
		if comps[i] = comps[i][1:]; len(comps[i]) == 0 {
			comps = append(comps[:i], comps[i+1:]...)
		}
	}
	b.failBegin = rapid.IntRange(0, 11).Draw(t, "fail begin") == 0
	b.failCommit = !b.failBegin && rapid.IntRange(0, 11).Draw(t, "fail commit") == 0
	return b
}

func (g *smGen) component(t *rapid.T, keys []string) []smItem {
	var steps []smItem
	var prev smItem // the step before
	for n := rapid.IntRange(1, 3).Draw(t, "steps"); len(steps) < n; {
		var ref *smRef
		var foreign []string // ids a changeset's $id targets may name in vain
		switch {
		case prev.call != nil:
			ref = &smRef{id: prev.call.id}
			foreign = []string{prev.call.id}
		case prev.members != nil:
			ref = &smRef{id: rapid.SampledFrom(prev.members).Draw(t, "referenced").id}
			foreign = []string{ref.id}
		}
		var it smItem
		if rapid.IntRange(0, 2).Draw(t, "changeset") == 0 {
			it = g.changeset(t, keys, ref, foreign)
		} else {
			if prev.csID != "" && len(steps) == n-1 && rapid.IntRange(0, 7).Draw(t, "reference the changeset") == 0 {
				// A changeset has no result of its own: this call fails
				// without waiting for the changeset, so no step may
				// follow it, which would no longer be ordered after the
				// changeset.
				ref.id = prev.csID
			}
			it.call = g.call(t, keys, ref, nil, 0, nil)
			if len(steps) == n-1 && rapid.IntRange(0, 3).Draw(t, "anonymous") == 0 {
				it.call.id = ""
			}
		}
		steps = append(steps, it)
		prev = it
	}
	return steps
}

// changeset draws a changeset of 2 to 4 members; ref, when not nil, goes
// to one of them. foreign are ids of calls outside the changeset.
func (g *smGen) changeset(t *rapid.T, keys []string, ref *smRef, foreign []string) smItem {
	n := rapid.IntRange(2, 4).Draw(t, "members")
	it := smItem{members: make([]*smCall, n)}
	for i := range it.members {
		it.members[i] = &smCall{id: g.nextID()} // ids first: a member may name a later one
	}
	if rapid.Bool().Draw(t, "changeset id") {
		it.csID = "cs" + g.nextID()
		it.csAngle = rapid.IntRange(0, 3).Draw(t, "changeset id angle") == 0
		foreign = append(foreign, it.csID)
	}
	withRef := -1
	if ref != nil {
		withRef = rapid.IntRange(0, n-1).Draw(t, "member with reference")
	}
	for i, m := range it.members {
		r := ref
		if i != withRef {
			r = nil
		}
		c := g.call(t, keys, r, it.members, i, foreign)
		c.id, c.member = m.id, true
		it.members[i] = c
	}
	return it
}

// call draws a call on keys. ref, when not nil, names the call whose result
// it must use; members and i, for a member of a changeset, are its
// changeset's members and its index among them, and foreign the ids of
// calls outside it (and its own), which $id targets leave alone.
func (g *smGen) call(t *rapid.T, keys []string, ref *smRef, members []*smCall, i int, foreign []string) *smCall {
	c := &smCall{
		id:     g.nextID(),
		angle:  rapid.IntRange(0, 7).Draw(t, "angle") == 0,
		method: rapid.SampledFrom([]string{"GET", "PUT", "PUT", "DELETE", "POST"}).Draw(t, "method"),
		key:    rapid.SampledFrom(keys).Draw(t, "key"),
		val:    rapid.IntRange(-3, 9).Draw(t, "val"),
		noCL:   rapid.IntRange(0, 3).Draw(t, "no Content-Length") == 0,
		query:  rapid.IntRange(0, 3).Draw(t, "query") == 0,
	}
	if c.method == "POST" {
		c.val = rapid.IntRange(1, 3).Draw(t, "by")
	}
	hasBody := c.method == "PUT" || c.method == "POST"
	// Forms and their weights: mostly ones that can succeed, so that
	// changesets commit and references resolve often enough.
	var forms []string
	add := func(form string, weight int) {
		for range weight {
			forms = append(forms, form)
		}
	}
	if ref != nil {
		add("key", 6)
		add("missing field", 1)
		if hasBody {
			add("value", 6)
			add("string value", 1)
		}
	} else {
		add("static", 8)
		add("relative", 3)
		if members == nil {
			add("unknown id", 1)
		} else if i > 0 {
			// References within the changeset: the Location of another
			// member, a $-target that names no member, and result
			// references to another member.
			add("location", 4)
			add("$metadata", 1)
			if len(foreign) > 0 {
				add("foreign location", 1)
			}
			add("member key", 2)
			if hasBody {
				add("member value", 2)
			}
		}
	}
	switch form := rapid.SampledFrom(forms).Draw(t, "form"); form {
	case "relative":
		c.relative = true
	case "key":
		c.keyRef = &smRef{ref.id, "k"}
	case "missing field":
		c.keyRef = &smRef{ref.id, "zz"}
	case "value":
		c.valRef = &smRef{ref.id, "v"}
	case "string value":
		c.valRef = &smRef{ref.id, "k"}
	case "unknown id":
		c.keyRef = &smRef{"nobody", "k"}
	case "location":
		// Mostly an earlier PUT, whose response has a Location; else any
		// member, which fails the call (no Location, itself or later).
		var puts []*smCall
		for _, m := range members[:i] {
			if m.method == "PUT" {
				puts = append(puts, m)
			}
		}
		if len(puts) > 0 && rapid.IntRange(0, 3).Draw(t, "location of a PUT") > 0 {
			c.locOf = rapid.SampledFrom(puts).Draw(t, "PUT").id
		} else {
			c.locOf = rapid.SampledFrom(members).Draw(t, "location of").id
		}
	case "$metadata":
		c.raw = "$metadata"
	case "foreign location":
		c.locOf = rapid.SampledFrom(foreign).Draw(t, "foreign")
	case "member key":
		c.keyRef = &smRef{smMember(t, members, i), "k"}
	case "member value":
		c.valRef = &smRef{smMember(t, members, i), "v"}
	}
	return c
}

// smMember draws the id of a member of a changeset for member i to
// reference: mostly an earlier one, else any (itself or a later one, which
// fails the call).
func smMember(t *rapid.T, members []*smCall, i int) string {
	if i > 0 && rapid.IntRange(0, 3).Draw(t, "earlier member") > 0 {
		return rapid.SampledFrom(members[:i]).Draw(t, "member").id
	}
	return rapid.SampledFrom(members).Draw(t, "member").id
}

// smPart is a response part as the test compares it: a call's response,
// or a committed changeset's responses.
type smPart struct {
	ContentID string
	Status    int
	Location  string
	Body      any // decoded JSON; smHandlerError for the Handler's own errors
	Parts     []smPart
}

// smHandlerError stands for the body of an error the Handler writes itself
// (424 for a failed dependency, 500 for a group that would not begin or
// commit): its wording is the Handler's to choose, and other tests pin it.
const smHandlerError = "<handler error>"

// smOutcome is a call's response in the model.
type smOutcome struct {
	status int
	loc    string
	body   any
}

func (o smOutcome) part(cid string) smPart {
	return smPart{ContentID: cid, Status: o.status, Location: o.loc, Body: o.body}
}

var smFailedDependency = smOutcome{status: http.StatusFailedDependency, body: smHandlerError}

// smModel predicts the Handler's responses and the store's contents.
type smModel struct {
	data map[string]int
}

// run predicts the response to batch b and the store's group hook calls,
// and applies the batch to the model's data.
func (m *smModel) run(b *smBatch) ([]smPart, smStats) {
	// published holds the outcomes that references may use: every
	// top-level call's, and the calls of committed changesets.
	published := map[string]smOutcome{}
	var parts []smPart
	var stats smStats
	for _, it := range b.items {
		if c := it.call; c != nil {
			o := m.exec(c, m.data, published, nil, nil)
			if c.id != "" {
				published[c.id] = o
			}
			parts = append(parts, o.part(c.responseID()))
			continue
		}
		csResp := (&smCall{id: it.csID, angle: it.csAngle}).responseID()
		stats.Begins++
		if b.failBegin {
			parts = append(parts, smPart{ContentID: csResp, Status: http.StatusInternalServerError, Body: smHandlerError})
			continue
		}
		view := maps.Clone(m.data)
		var outs []smOutcome
		failed := -1
		for i, c := range it.members {
			o := m.exec(c, view, published, it.members, outs)
			outs = append(outs, o)
			if o.status >= 400 {
				failed = i
				break
			}
		}
		if failed >= 0 {
			stats.Rollbacks++
			parts = append(parts, outs[failed].part(it.members[failed].responseID()))
			continue
		}
		stats.Commits++
		if b.failCommit {
			parts = append(parts, smPart{ContentID: csResp, Status: http.StatusInternalServerError, Body: smHandlerError})
			continue
		}
		m.data = view
		p := smPart{ContentID: csResp}
		for i, c := range it.members {
			published[c.id] = outs[i]
			p.Parts = append(p.Parts, outs[i].part(c.responseID()))
		}
		parts = append(parts, p)
	}
	return parts, stats
}

// exec predicts call c on data. For a changeset member, members are its
// changeset's and outs the outcomes of those before it.
func (m *smModel) exec(c *smCall, data map[string]int, published map[string]smOutcome, members []*smCall, outs []smOutcome) smOutcome {
	before := members[:len(outs)]
	resolve := func(r smRef) (any, bool) {
		o, ok := published[r.id]
		for i, b := range before {
			if b.id == r.id {
				o, ok = outs[i], true
			}
		}
		if !ok || o.status >= 400 {
			return nil, false // unknown, later, failed or rolled back
		}
		obj, ok := o.body.(map[string]any)
		if !ok {
			return nil, false
		}
		v, ok := obj[r.key]
		return v, ok
	}
	// References first, as the Handler resolves them before it reads the
	// call's target.
	var val any = float64(c.val)
	if c.valRef != nil {
		v, ok := resolve(*c.valRef)
		if !ok {
			return smFailedDependency
		}
		val = v
	}
	key := c.key
	switch {
	case c.keyRef != nil:
		v, ok := resolve(*c.keyRef)
		if !ok {
			return smFailedDependency
		}
		s, ok := v.(string)
		if !ok {
			panic(fmt.Sprintf("model: key reference %v to a %T", *c.keyRef, v))
		}
		key = s
	case c.locOf != "":
		k := slices.IndexFunc(members, func(m *smCall) bool { return m.id == c.locOf })
		switch {
		case k < 0:
			// Names no member: left alone, the target is a path of its own.
			return smOutcome{status: http.StatusNotFound, body: map[string]any{"error": "no route"}}
		case k >= len(outs):
			return smFailedDependency // the call itself or a later one
		case outs[k].loc == "":
			return smFailedDependency
		}
		key = strings.TrimPrefix(outs[k].loc, "/kv/")
	case c.raw != "":
		return smOutcome{status: http.StatusNotFound, body: map[string]any{"error": "no route"}}
	}
	n, isInt := smInt(val)
	if (c.method == "PUT" || c.method == "POST") && !isInt {
		return smOutcome{status: http.StatusBadRequest, body: map[string]any{"error": "bad body"}}
	}
	v, had := data[key]
	switch {
	case c.method == "PUT":
		data[key] = n
		status := http.StatusOK
		if !had {
			status = http.StatusCreated
		}
		return smOutcome{status: status, loc: "/kv/" + key, body: smKV(key, n)}
	case !had:
		return smOutcome{status: http.StatusNotFound, body: map[string]any{"error": "not found", "k": key}}
	case c.method == "GET":
		return smOutcome{status: http.StatusOK, body: smKV(key, v)}
	case c.method == "DELETE":
		delete(data, key)
		return smOutcome{status: http.StatusNoContent}
	default: // POST .../incr
		data[key] = v + n
		return smOutcome{status: http.StatusOK, body: smKV(key, v+n)}
	}
}

func smKV(k string, v int) map[string]any { return map[string]any{"k": k, "v": float64(v)} }

func smInt(v any) (int, bool) {
	f, ok := v.(float64)
	if !ok || f != math.Trunc(f) {
		return 0, false
	}
	return int(f), true
}

// smReadResponse reads a batch response with the standard library
// (mime/multipart, http.ReadResponse), as an oracle independent of the
// codec the Handler writes with.
func smReadResponse(resp *http.Response) ([]smPart, error) {
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("batch status %d: %s", resp.StatusCode, b)
	}
	return smReadParts(resp.Header.Get("Content-Type"), resp.Body)
}

func smReadParts(contentType string, body io.Reader) ([]smPart, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "multipart/mixed" {
		return nil, fmt.Errorf("Content-Type %q: %v", contentType, err)
	}
	mr := multipart.NewReader(body, params["boundary"])
	var out []smPart
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("part %d: %v", len(out), err)
		}
		sp := smPart{ContentID: p.Header.Get("Content-ID")}
		ct := p.Header.Get("Content-Type")
		if strings.HasPrefix(ct, "multipart/mixed") {
			if sp.Parts, err = smReadParts(ct, p); err != nil {
				return nil, fmt.Errorf("part %d: %v", len(out), err)
			}
			out = append(out, sp)
			continue
		}
		if ct != "application/http" {
			return nil, fmt.Errorf("part %d: Content-Type %q", len(out), ct)
		}
		r, err := http.ReadResponse(bufio.NewReader(p), nil)
		if err != nil {
			return nil, fmt.Errorf("part %d: %v", len(out), err)
		}
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, fmt.Errorf("part %d: %v", len(out), err)
		}
		sp.Status, sp.Location = r.StatusCode, r.Header.Get("Location")
		sp.Body = smDecodeBody(r.StatusCode, r.Header.Get("Content-Type"), b)
		out = append(out, sp)
	}
}

// smDecodeBody decodes a response body, and replaces the Handler's own
// errors, once checked for their shape, with smHandlerError.
func smDecodeBody(status int, contentType string, b []byte) any {
	if len(b) == 0 {
		return nil
	}
	if contentType != "application/json" {
		if status == http.StatusInternalServerError && strings.HasPrefix(string(b), "batch: ") {
			return smHandlerError
		}
		return string(b)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return string(b)
	}
	if status == http.StatusFailedDependency {
		e, _ := v.(map[string]any)["error"].(map[string]any)
		if msg, _ := e["message"].(string); len(e) == 2 && e["code"] == errorCode(status) && msg != "" {
			return smHandlerError
		}
	}
	return v
}

// TestHandlerStateMachine runs batches of calls and changesets against a
// transactional store, with result references and Location targets
// between them, and checks each response and the store against the model.
func TestHandlerStateMachine(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		store := newSMStore()
		h := NewHandlerOptions(store, HandlerOptions{
			ResultReferences: true,
			BeginGroup:       store.begin,
			Concurrency:      rapid.IntRange(1, 8).Draw(t, "concurrency"),
		})
		model := &smModel{data: map[string]int{}}
		gen := &smGen{}
		t.Repeat(map[string]func(*rapid.T){
			"batch": func(t *rapid.T) {
				b := gen.batch(t)
				wire := b.wire()
				want, wantStats := model.run(b)

				store.failBegin, store.failCommit = b.failBegin, b.failCommit
				store.stats = smStats{}
				req := httptest.NewRequest("POST", "http://example.com/batch", strings.NewReader(wire))
				req.Header.Set("Content-Type", "multipart/mixed; boundary=b")
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				got, err := smReadResponse(rec.Result())
				if err != nil {
					t.Fatalf("batch (fail begin %t, commit %t):\n%s\nresponse: %v", b.failBegin, b.failCommit, wire, err)
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Fatalf("batch (fail begin %t, commit %t):\n%s\nresponse (-want +got):\n%s", b.failBegin, b.failCommit, wire, diff)
				}
				if diff := cmp.Diff(wantStats, store.stats); diff != "" {
					t.Fatalf("batch (fail begin %t, commit %t):\n%s\ngroup hooks (-want +got):\n%s", b.failBegin, b.failCommit, wire, diff)
				}
			},
			"": func(t *rapid.T) {
				if len(store.problems) > 0 {
					t.Fatalf("the store saw:\n%s", strings.Join(store.problems, "\n"))
				}
				data, free := store.snapshot()
				if !free {
					t.Fatalf("a group is still open after its batch")
				}
				if diff := cmp.Diff(model.data, data); diff != "" {
					t.Fatalf("store contents (-want +got):\n%s", diff)
				}
			},
		})
	})
}
