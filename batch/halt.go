package batch

import (
	"fmt"
	"iter"
	"net/http"
	"strings"
)

// Halt-on-error (Bitrix24's halt, OData's default): once a call or a
// changeset of a halting batch fails (status 400 or more), the calls and
// changesets not started yet are skipped with 424; those running finish.

// startHalt decides whether batch r halts on its first error: always with
// HaltOnError, when the outer header HaltHeader names says so, and in OData
// mode unless the batch prefers continue-on-error (which the response then
// says it applied).
func (h *Handler) startHalt(st *batchState, w http.ResponseWriter, r *http.Request) {
	st.halt = h.opts.HaltOnError || h.opts.HaltHeader != "" && truthy(r.Header.Get(h.opts.HaltHeader))
	if st.odata(h) {
		if preferContinue(r.Header) {
			w.Header().Set("Preference-Applied", "odata.continue-on-error")
		} else {
			st.halt = true
		}
	}
	st.haltedBy.Store(-1)
}

// odata reports whether the batch follows OData's rules: it is an OData
// JSON batch, or a multipart one in OData mode.
func (st *batchState) odata(h *Handler) bool {
	return st.format == FormatODataJSON || st.format == FormatMultipart && h.opts.OData
}

// noteFailure halts the batch if it halts on errors and unit i (a call or
// a changeset) has failed.
func (st *batchState) noteFailure(i int) {
	if st.halt && st.calls[i].status >= 400 {
		st.haltedBy.CompareAndSwap(-1, int64(i))
	}
}

// halted reports whether the batch has halted, and why, for the 424 of a
// call or changeset it skips.
func (st *batchState) halted() (string, bool) {
	if !st.halt {
		return "", false
	}
	k := st.haltedBy.Load()
	if k < 0 {
		return "", false
	}
	return st.skipped(int(k)), true
}

// truthy reports whether a header value turns an option on.
func truthy(v string) bool {
	v = strings.TrimSpace(v)
	return v == "1" || strings.EqualFold(v, "true")
}

// skipped says why a call is skipped: call k failed and the batch halts.
func (st *batchState) skipped(k int) string {
	c := &st.calls[k]
	what := "call"
	if c.kind == changesetHead {
		what = "changeset"
	}
	return fmt.Sprintf("skipped: %s %d (%q) failed with status %d and the batch halts on errors", what, c.part, clip(string(c.cid)), c.status)
}

// preferContinue reports whether the Prefer fields of a batch request ask
// for OData's continue-on-error (RFC 7240 preferences, comma-separated,
// each with optional parameters after ";").
func preferContinue(h http.Header) bool {
	for _, v := range h.Values("Prefer") {
		for _, pref := range strings.Split(v, ",") {
			pref, _, _ = strings.Cut(pref, ";")
			name, val, _ := strings.Cut(pref, "=")
			name = strings.TrimSpace(name)
			if !strings.EqualFold(name, "odata.continue-on-error") && !strings.EqualFold(name, "continue-on-error") {
				continue
			}
			val = strings.Trim(strings.TrimSpace(val), `"`)
			return val == "" || strings.EqualFold(val, "true")
		}
	}
	return false
}

// members yields the indexes of the calls of the changeset whose head is
// call i, in order.
func (st *batchState) members(i int) iter.Seq[int] {
	return func(yield func(int) bool) {
		for j := i + 1; j <= i+st.calls[i].members; j++ {
			if !yield(j) {
				return
			}
		}
	}
}
