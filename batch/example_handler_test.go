package batch_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/mixedcodec/mixed/batch"
)

// users is a small JSON API for the Handler examples: GET /users/{id},
// GET /departments/{id}, and PUT /users/{id}, which a changeset's Group
// sees.
func users() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") != "7" {
			http.Error(w, `{"error":"no such user"}`, http.StatusNotFound)
			return
		}
		fmt.Fprint(w, `{"id":7,"name":"Ann","department":{"id":42}}`)
	})
	mux.HandleFunc("GET /departments/{id}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"id":%s,"name":"Barn"}`, r.PathValue("id"))
	})
	mux.HandleFunc("PUT /users/{id}", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !strings.Contains(string(body), `"name"`) {
			http.Error(w, `{"error":"name required"}`, http.StatusBadRequest)
			return
		}
		if g, ok := batch.GroupFromContext(r.Context()).(*printGroup); ok {
			g.writes = append(g.writes, r.PathValue("id"))
		}
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

// send runs the batch b and prints each call's status and body, or the
// failed call of its rolled-back changeset.
func send(b *batch.Batch) {
	if err := b.Do(context.Background()); err != nil {
		log.Fatal(err)
	}
	for _, call := range b.Calls() {
		resp, err := call.Wait(context.Background())
		var rolledBack *batch.ChangesetError
		switch {
		case errors.As(err, &rolledBack):
			fmt.Printf("%s: rolled back (call %s: %d)\n", call.ID(), rolledBack.ID, rolledBack.StatusCode)
			continue
		case err != nil:
			log.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		fmt.Printf("%s: %d %s\n", call.ID(), resp.StatusCode, strings.TrimSpace(string(body)))
	}
}

func get(target string) *http.Request {
	req, err := http.NewRequest("GET", target, nil)
	if err != nil {
		log.Fatal(err)
	}
	return req
}

// Result references: a call's target names a value of an earlier call's
// JSON response, and runs after it.
func ExampleHandlerOptions_resultReferences() {
	srv := httptest.NewServer(batch.NewHandlerOptions(users(), batch.HandlerOptions{ResultReferences: true}))
	defer srv.Close()

	b := (&batch.Client{Endpoint: srv.URL + "/batch"}).NewBatch()
	b.Add(get("/users/7"), "user")
	b.Add(get("/departments/$result[user][department][id]"), "dept")
	send(b)
	// Output:
	// user: 200 {"id":7,"name":"Ann","department":{"id":42}}
	// dept: 200 {"id":42,"name":"Barn"}
}

// Halt on error: after the first call that fails, the calls not yet
// started answer 424. Concurrency 1 runs the calls one at a time, so that
// the third has not started when the second fails.
func ExampleHandlerOptions_haltOnError() {
	srv := httptest.NewServer(batch.NewHandlerOptions(users(), batch.HandlerOptions{HaltOnError: true, Concurrency: 1}))
	defer srv.Close()

	b := (&batch.Client{Endpoint: srv.URL + "/batch"}).NewBatch()
	b.Add(get("/users/7"), "ann")
	b.Add(get("/users/8"), "nobody")
	b.Add(get("/departments/42"), "barn")
	send(b)
	// Output:
	// ann: 200 {"id":7,"name":"Ann","department":{"id":42}}
	// nobody: 404 {"error":"no such user"}
	// barn: 424 {"error":{"code":"FailedDependency","message":"skipped: call 1 (\"nobody\") failed with status 404 and the batch halts on errors"}}
}

// printGroup is a changeset's unit of work that prints its outcome; a
// *sql.Tx is the usual one.
type printGroup struct{ writes []string }

func (g *printGroup) Commit() error   { fmt.Println("commit", g.writes); return nil }
func (g *printGroup) Rollback() error { fmt.Println("rollback", g.writes); return nil }

// Changesets: with BeginGroup, the calls of a changeset run in order inside
// a Group that commits when all succeed and rolls back otherwise.
func ExampleHandlerOptions_changesets() {
	begin := func(context.Context) (batch.Group, error) { return &printGroup{}, nil }
	srv := httptest.NewServer(batch.NewHandlerOptions(users(), batch.HandlerOptions{BeginGroup: begin}))
	defer srv.Close()

	put := func(id, body string) *http.Request {
		req, _ := http.NewRequest("PUT", "/users/"+id, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		return req
	}
	b := (&batch.Client{Endpoint: srv.URL + "/batch"}).NewBatch()
	ok := b.Changeset()
	ok.Add(put("7", `{"name":"Ann"}`), "rename-7")
	ok.Add(put("8", `{"name":"Bob"}`), "rename-8")
	if err := b.Do(context.Background()); err != nil {
		log.Fatal(err)
	}

	b = (&batch.Client{Endpoint: srv.URL + "/batch"}).NewBatch()
	bad := b.Changeset()
	bad.Add(put("7", `{"name":"Ann"}`), "rename-7")
	bad.Add(put("8", `{}`), "rename-8")
	send(b)
	// Output:
	// commit [7 8]
	// rollback [7]
	// rename-7: rolled back (call rename-8: 400)
	// rename-8: rolled back (call rename-8: 400)
}
