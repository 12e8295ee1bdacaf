package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"

	"github.com/mixedcodec/mixed/batch"
)

// The demo API of "mixed serve" without -upstream: the fictional "farm" API
// of Google Calendar's batch documentation, so that the documentation's
// example batch request gets its example response.
//
//	GET    /farm/v1/animals          the list
//	GET    /farm/v1/animals/{name}   one animal
//	PUT    /farm/v1/animals/{name}   create or replace
//	DELETE /farm/v1/animals/{name}   remove
//
// ETags are honoured: If-Match that does not match → 412, If-None-Match
// that matches → 304. The animals the store starts with carry the ETags
// the documentation shows ("etag/pony"); a changed representation gets a
// tag derived from its content, so an unchanged one keeps its tag. A PUT
// that creates an animal answers 201 with its Location, so that a later
// call of a changeset can address it as $<Content-ID>.
//
// The store is bounded, so that a demo can be exposed: at most
// farmMaxAnimals animals (a PUT that would create one more answers 507
// Insufficient Storage) and PUT bodies of at most farmMaxBody bytes (413
// Content Too Large past it).
//
// The store takes part in changesets (see begin): a changeset's calls see
// and change the store under one hold of its lock, and a rollback undoes
// their changes.

type animal struct {
	Kind       string `json:"kind"`
	ETag       string `json:"etag"`
	SelfLink   string `json:"selfLink"`
	AnimalName string `json:"animalName"`
	AnimalAge  int    `json:"animalAge"`
	PeltColor  string `json:"peltColor"`
}

// Limits of the demo store.
const (
	farmMaxAnimals = 1000
	farmMaxBody    = 64 << 10
)

// farm is the store and its handler.
type farm struct {
	mu         sync.Mutex
	animals    map[string]animal
	mux        *http.ServeMux
	maxAnimals int   // the most animals the store holds
	maxBody    int64 // the longest PUT body
}

func newFarm() *farm {
	f := &farm{animals: map[string]animal{}, maxAnimals: farmMaxAnimals, maxBody: farmMaxBody}
	for _, a := range []animal{
		{AnimalName: "pony", AnimalAge: 34, PeltColor: "white"},
		{AnimalName: "sheep", AnimalAge: 5, PeltColor: "green"},
	} {
		a.Kind, a.SelfLink, a.ETag = "farm#animal", "/farm/v1/animals/"+a.AnimalName, "etag/"+a.AnimalName
		f.animals[a.AnimalName] = a
	}
	f.mux = http.NewServeMux()
	f.mux.HandleFunc("GET /farm/v1/animals", f.list)
	f.mux.HandleFunc("GET /farm/v1/animals/{name}", f.get)
	f.mux.HandleFunc("PUT /farm/v1/animals/{name}", f.put)
	f.mux.HandleFunc("DELETE /farm/v1/animals/{name}", f.delete)
	return f
}

func (f *farm) ServeHTTP(w http.ResponseWriter, r *http.Request) { f.mux.ServeHTTP(w, r) }

// A farmGroup is a changeset's unit of work on the store. It holds the
// store's lock from begin to commit or rollback, so that no other call sees
// changes that may yet be undone, and it remembers each animal as it was
// before the changeset's first change to it.
type farmGroup struct {
	f     *farm
	saved map[string]*animal // nil: the animal did not exist
	ended bool
}

// begin starts a changeset's group: batch.HandlerOptions.BeginGroup.
func (f *farm) begin(context.Context) (batch.Group, error) {
	f.mu.Lock()
	return &farmGroup{f: f, saved: map[string]*animal{}}, nil
}

func (g *farmGroup) Commit() error { return g.end(false) }

func (g *farmGroup) Rollback() error { return g.end(true) }

func (g *farmGroup) end(undo bool) error {
	if g.ended {
		return errors.New("farm: the changeset has ended already")
	}
	g.ended = true
	if undo {
		for name, a := range g.saved {
			if a == nil {
				delete(g.f.animals, name)
			} else {
				g.f.animals[name] = *a
			}
		}
	}
	g.f.mu.Unlock()
	return nil
}

// enter gives a call the store: inside its changeset's group, which holds
// the lock already, or under the lock, which leave releases.
func (f *farm) enter(r *http.Request) *farmGroup {
	if g, ok := batch.GroupFromContext(r.Context()).(*farmGroup); ok && g.f == f && !g.ended {
		return g
	}
	f.mu.Lock()
	return nil
}

func (f *farm) leave(g *farmGroup) {
	if g == nil {
		f.mu.Unlock()
	}
}

// change notes, inside a group, how an animal was before its first change.
func (g *farmGroup) change(name string) {
	if g == nil {
		return
	}
	if _, ok := g.saved[name]; ok {
		return
	}
	if a, ok := g.f.animals[name]; ok {
		g.saved[name] = &a
	} else {
		g.saved[name] = nil
	}
}

// quoted returns an entity-tag as it goes on the wire.
func quoted(tag string) string { return `"` + tag + `"` }

// listTag is the ETag of the list: the documented one for the starting
// store, else derived from the content.
func (f *farm) listTag(names []string) string {
	if slices.Equal(names, []string{"pony", "sheep"}) && f.animals["pony"].ETag == "etag/pony" && f.animals["sheep"].ETag == "etag/sheep" {
		return "etag/animals"
	}
	h := fnv.New64a()
	for _, n := range names {
		fmt.Fprintf(h, "%s=%s;", n, f.animals[n].ETag)
	}
	return "etag/animals-" + strconv.FormatUint(h.Sum64(), 16)
}

func (f *farm) list(w http.ResponseWriter, r *http.Request) {
	g := f.enter(r)
	names := make([]string, 0, len(f.animals))
	for n := range f.animals {
		names = append(names, n)
	}
	slices.Sort(names)
	tag := f.listTag(names)
	items := make([]animal, len(names))
	for i, n := range names {
		items[i] = f.animals[n]
	}
	f.leave(g)
	if noneMatch(r, tag) {
		w.Header().Set("ETag", quoted(tag))
		w.WriteHeader(http.StatusNotModified)
		return
	}
	writeJSON(w, http.StatusOK, tag, map[string]any{"kind": "farm#animalList", "etag": tag, "items": items})
}

func (f *farm) get(w http.ResponseWriter, r *http.Request) {
	g := f.enter(r)
	a, ok := f.animals[r.PathValue("name")]
	f.leave(g)
	if !ok {
		writeError(w, http.StatusNotFound, "no animal named "+strconv.Quote(r.PathValue("name")))
		return
	}
	if noneMatch(r, a.ETag) {
		w.Header().Set("ETag", quoted(a.ETag))
		w.WriteHeader(http.StatusNotModified)
		return
	}
	writeJSON(w, http.StatusOK, a.ETag, a)
}

func (f *farm) put(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var in struct {
		AnimalName string          `json:"animalName"`
		AnimalAge  json.RawMessage `json:"animalAge"`
		PeltColor  string          `json:"peltColor"`
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, f.maxBody))
	if tooLarge := (*http.MaxBytesError)(nil); errors.As(err, &tooLarge) {
		writeError(w, http.StatusRequestEntityTooLarge, "the body is longer than "+strconv.FormatInt(f.maxBody, 10)+" bytes")
		return
	}
	if err == nil {
		err = json.Unmarshal(body, &in)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "the body is not an animal: "+err.Error())
		return
	}
	// Numbers may come as JSON strings, as in Google's JSON mapping
	// (and in the documentation's example: "animalAge": "5").
	age, err := strconv.Atoi(string(bytes.Trim(in.AnimalAge, `"`)))
	if len(in.AnimalAge) > 0 && err != nil {
		writeError(w, http.StatusBadRequest, "animalAge is not a number")
		return
	}
	if in.AnimalName != "" && in.AnimalName != name {
		writeError(w, http.StatusBadRequest, "animalName does not match the path")
		return
	}
	g := f.enter(r)
	defer f.leave(g)
	old, exists := f.animals[name]
	if im := r.Header.Get("If-Match"); im != "" && (!exists || im != "*" && im != quoted(old.ETag)) {
		writeError(w, http.StatusPreconditionFailed, "If-Match "+im+" does not match")
		return
	}
	if !exists && len(f.animals) >= f.maxAnimals {
		writeError(w, http.StatusInsufficientStorage, "the farm is full: it holds at most "+strconv.Itoa(f.maxAnimals)+" animals")
		return
	}
	a := animal{Kind: "farm#animal", SelfLink: "/farm/v1/animals/" + name, AnimalName: name, AnimalAge: age, PeltColor: in.PeltColor}
	a.ETag = old.ETag
	if !exists || old.AnimalAge != a.AnimalAge || old.PeltColor != a.PeltColor {
		h := fnv.New64a()
		fmt.Fprintf(h, "%s/%d/%s", name, age, in.PeltColor)
		a.ETag = "etag/" + name + "-" + strconv.FormatUint(h.Sum64(), 16)
	}
	g.change(name)
	f.animals[name] = a
	status := http.StatusOK
	if !exists {
		status = http.StatusCreated
		w.Header().Set("Location", a.SelfLink)
	}
	writeJSON(w, status, a.ETag, a)
}

func (f *farm) delete(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	g := f.enter(r)
	defer f.leave(g)
	old, exists := f.animals[name]
	if !exists {
		writeError(w, http.StatusNotFound, "no animal named "+strconv.Quote(name))
		return
	}
	if im := r.Header.Get("If-Match"); im != "" && im != "*" && im != quoted(old.ETag) {
		writeError(w, http.StatusPreconditionFailed, "If-Match "+im+" does not match")
		return
	}
	g.change(name)
	delete(f.animals, name)
	w.WriteHeader(http.StatusNoContent)
}

func noneMatch(r *http.Request, tag string) bool {
	inm := r.Header.Get("If-None-Match")
	return inm == "*" || inm != "" && inm == quoted(tag)
}

func writeJSON(w http.ResponseWriter, status int, tag string, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if tag != "" {
		w.Header().Set("ETag", quoted(tag))
	}
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, status int, msg string) {
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"code": status, "message": msg}})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
