// Command odata-sqlite is a small OData-style service over database/sql and
// SQLite (modernc.org/sqlite, pure Go) whose $batch endpoint is a
// batch.Handler with OData changesets: each changeset runs in one SQL
// transaction, so its calls commit or roll back together, and a later call
// of a changeset may address what an earlier one created as $<Content-ID>
// ("POST $1/Orders").
//
// Resources:
//
//	POST /odata/Customers              {"Name": "..."}            → 201, Location /odata/Customers(<id>)
//	GET  /odata/Customers(<id>)
//	POST /odata/Customers(<id>)/Orders {"Item": "...", "Quantity": n} → 201, Location /odata/Orders(<id>)
//	GET  /odata/Customers(<id>)/Orders
//	GET  /odata/Orders(<id>)
//	POST /odata/$batch                 multipart/mixed, OData v4 §11.7
//
// Run it with "go run ." and paste the curl command it prints.
//
// # One SQLite connection
//
// The database is opened with at most one connection (db.SetMaxOpenConns(1)),
// whether it is a file (-db) or in memory (the default). SQLite allows one
// writer at a time anyway; with one connection, database/sql queues every
// statement and transaction in its own pool, so there is never an
// SQLITE_BUSY to retry and no busy timeout to tune, and an in-memory
// database (which lives in its one connection) is shared by every request.
//
// The price is that while a changeset's transaction is open, any statement
// outside it waits for the transaction to end. That cannot deadlock, because
// a transaction never waits for anything outside itself:
//
//   - every call of a changeset runs its SQL on the changeset's *sql.Tx (the
//     store method picks it from the request context), never on the *sql.DB,
//     so no call waits for the connection its own transaction holds;
//   - the batch.Handler runs a changeset's calls one after another in one
//     worker and resolves anything the changeset depends on outside itself
//     before it calls BeginGroup, so between BeginTx and Commit nothing
//     waits for another call of the batch;
//   - a query's rows are closed before the next statement is issued on the
//     same querier, so no handler holds the connection twice;
//   - the transaction is begun with the batch request's context, so a client
//     that goes away rolls it back and frees the connection.
//
// Statements outside changesets (plain requests, top-level calls of a batch)
// and other changesets simply queue behind the open transaction.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mixedcodec/mixed/batch"
	_ "modernc.org/sqlite"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8081", "address to serve on")
	path := flag.String("db", "", "SQLite database file (default: a fresh in-memory database)")
	flag.Parse()

	db, err := openDB(*path)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("OData service on http://%s/odata/; try a changeset:\n\n%s\n", ln.Addr(), curlExample(ln.Addr().String()))
	srv := &http.Server{Handler: newService(db).Handler(), ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.Serve(ln))
}

// exampleBatch is the body of the printed curl example: a changeset that
// creates a customer and, through $1, an order of that customer, then a
// read of the new customer's orders. Its lines end in LF only, as a shell
// here-document sends them; the codec accepts that.
const exampleBatch = `--batch_36522ad7
Content-Type: multipart/mixed; boundary=changeset_77162fcd

--changeset_77162fcd
Content-Type: application/http
Content-ID: 1

POST Customers HTTP/1.1
Content-Type: application/json

{"Name": "Ada Lovelace"}
--changeset_77162fcd
Content-Type: application/http
Content-ID: 2

POST $1/Orders HTTP/1.1
Content-Type: application/json

{"Item": "Analytical Engine", "Quantity": 1}
--changeset_77162fcd--
--batch_36522ad7
Content-Type: application/http

GET Customers HTTP/1.1

--batch_36522ad7--
`

// exampleContentType is the Content-Type of exampleBatch.
const exampleContentType = "multipart/mixed; boundary=batch_36522ad7"

func curlExample(addr string) string {
	return "curl -sS http://" + addr + "/odata/\\$batch \\\n" +
		"  -H 'Content-Type: " + exampleContentType + "' \\\n" +
		"  --data-binary @- <<'EOF'\n" + exampleBatch + "EOF\n"
}

// openDB opens the SQLite database at path ("" for a fresh in-memory one)
// with one connection (see the package comment for why) and creates the
// tables.
func openDB(path string) (*sql.DB, error) {
	if path == "" {
		path = ":memory:"
	}
	db, err := sql.Open("sqlite", path+"?_pragma=foreign_keys(1)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	// An in-memory database dies with its connection: never close the
	// idle one.
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	const schema = `
CREATE TABLE IF NOT EXISTS Customers (
	ID   INTEGER PRIMARY KEY,
	Name TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS Orders (
	ID         INTEGER PRIMARY KEY,
	CustomerID INTEGER NOT NULL REFERENCES Customers(ID),
	Item       TEXT NOT NULL,
	Quantity   INTEGER NOT NULL CHECK (Quantity > 0)
);`
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("creating the schema: %w", err)
	}
	return db, nil
}

// Customer is the JSON form of a customer.
type Customer struct {
	ID   int64
	Name string
}

// Order is the JSON form of an order.
type Order struct {
	ID         int64
	CustomerID int64
	Item       string
	Quantity   int64
}

// querier is what the handlers need of a database: both *sql.DB and
// *sql.Tx have it.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// service serves the OData resources from db.
type service struct {
	db *sql.DB
}

func newService(db *sql.DB) *service { return &service{db: db} }

// store returns the querier of a request: the changeset's transaction
// inside a changeset, where using db instead would wait forever for the
// one connection the transaction holds, else the database.
func (s *service) store(ctx context.Context) querier {
	if tx, ok := batch.GroupFromContext(ctx).(*sql.Tx); ok {
		return tx
	}
	return s.db
}

// Handler returns the service's HTTP handler: the resources under /odata/
// and the batch endpoint /odata/$batch.
func (s *service) Handler() http.Handler {
	api := http.HandlerFunc(s.serveResource)
	bh := batch.NewHandlerOptions(api, batch.HandlerOptions{
		// OData runs a batch's calls and changesets one at a time, in
		// the order received, so halt-on-error (OData's default) stops
		// exactly at the first failure.
		OData: true,
		BeginGroup: func(ctx context.Context) (batch.Group, error) {
			tx, err := s.db.BeginTx(ctx, nil)
			if err != nil {
				// Not tx itself: a nil *sql.Tx in a Group is not a nil Group.
				return nil, err
			}
			return tx, nil
		},
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Only the outer request reaches the batch endpoint: the calls of
		// a batch go to api, so a batch cannot nest another.
		if r.URL.Path == "/odata/$batch" {
			bh.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}

// serveResource routes a request to a resource of /odata/.
func (s *service) serveResource(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/odata/")
	if !ok {
		writeError(w, http.StatusNotFound, "NotFound", "no resource at "+r.URL.Path)
		return
	}
	seg := strings.Split(rest, "/")
	switch {
	case len(seg) == 1 && seg[0] == "Customers":
		switch r.Method {
		case http.MethodGet:
			s.listCustomers(w, r)
		case http.MethodPost:
			s.createCustomer(w, r)
		default:
			methodNotAllowed(w, "GET, POST")
		}
		return
	case len(seg) == 1 || len(seg) == 2 && seg[1] == "Orders":
		set, id, ok := parseKey(seg[0])
		if !ok {
			break
		}
		switch {
		case set == "Customers" && len(seg) == 1:
			if r.Method != http.MethodGet {
				methodNotAllowed(w, "GET")
				return
			}
			s.getCustomer(w, r, id)
			return
		case set == "Customers":
			switch r.Method {
			case http.MethodGet:
				s.listOrders(w, r, id)
			case http.MethodPost:
				s.createOrder(w, r, id)
			default:
				methodNotAllowed(w, "GET, POST")
			}
			return
		case set == "Orders" && len(seg) == 1:
			if r.Method != http.MethodGet {
				methodNotAllowed(w, "GET")
				return
			}
			s.getOrder(w, r, id)
			return
		}
	}
	writeError(w, http.StatusNotFound, "NotFound", "no resource at "+r.URL.Path)
}

// parseKey splits an OData key segment such as "Customers(42)".
func parseKey(seg string) (set string, id int64, ok bool) {
	open := strings.IndexByte(seg, '(')
	if open <= 0 || !strings.HasSuffix(seg, ")") {
		return "", 0, false
	}
	id, err := strconv.ParseInt(seg[open+1:len(seg)-1], 10, 64)
	if err != nil || id <= 0 {
		return "", 0, false
	}
	return seg[:open], id, true
}

func (s *service) createCustomer(w http.ResponseWriter, r *http.Request) {
	var c Customer
	if !readJSON(w, r, &c) {
		return
	}
	if c.Name == "" {
		writeError(w, http.StatusBadRequest, "BadRequest", "Name is required")
		return
	}
	var ok bool
	if c.ID, ok = insert(w, r, s.store(r.Context()), "Customers", "INSERT INTO Customers (Name) VALUES (?)", c.Name); ok {
		writeJSON(w, http.StatusCreated, c)
	}
}

func (s *service) getCustomer(w http.ResponseWriter, r *http.Request, id int64) {
	c := Customer{ID: id}
	err := s.store(r.Context()).QueryRowContext(r.Context(), "SELECT Name FROM Customers WHERE ID = ?", id).Scan(&c.Name)
	writeRow(w, err, c, "no customer %d", id)
}

// writeRow answers with v, or with a 404 saying notFound (a format for id)
// when the row is missing, or with a 500 on another error.
func writeRow[T any](w http.ResponseWriter, err error, v T, notFound string, id int64) {
	if errors.Is(err, sql.ErrNoRows) {
		writeError(w, http.StatusNotFound, "NotFound", fmt.Sprintf(notFound, id))
		return
	}
	if err != nil {
		internalError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *service) listCustomers(w http.ResponseWriter, r *http.Request) {
	rows, err := s.store(r.Context()).QueryContext(r.Context(), "SELECT ID, Name FROM Customers ORDER BY ID")
	writeCollection(w, rows, err, func(c *Customer) []any { return []any{&c.ID, &c.Name} })
}

// writeCollection answers with the rows of a query as an OData collection,
// scanning each into the fields that fields returns (it may also set the
// ones the query leaves out), or with a 500.
func writeCollection[T any](w http.ResponseWriter, rows *sql.Rows, err error, fields func(*T) []any) {
	if err != nil {
		internalError(w, err)
		return
	}
	defer rows.Close()
	list := []T{}
	for rows.Next() {
		var v T
		if err := rows.Scan(fields(&v)...); err != nil {
			internalError(w, err)
			return
		}
		list = append(list, v)
	}
	if err := rows.Err(); err != nil {
		internalError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, collection[T]{Value: list})
}

func (s *service) createOrder(w http.ResponseWriter, r *http.Request, customer int64) {
	var o Order
	if !readJSON(w, r, &o) {
		return
	}
	if o.Item == "" {
		writeError(w, http.StatusBadRequest, "BadRequest", "Item is required")
		return
	}
	if o.Quantity <= 0 {
		writeError(w, http.StatusBadRequest, "BadRequest", "Quantity must be greater than 0")
		return
	}
	q := s.store(r.Context())
	if ok, err := customerExists(r.Context(), q, customer); err != nil {
		internalError(w, err)
		return
	} else if !ok {
		writeError(w, http.StatusNotFound, "NotFound", fmt.Sprintf("no customer %d", customer))
		return
	}
	o.CustomerID = customer
	var ok bool
	if o.ID, ok = insert(w, r, q, "Orders", "INSERT INTO Orders (CustomerID, Item, Quantity) VALUES (?, ?, ?)", o.CustomerID, o.Item, o.Quantity); ok {
		writeJSON(w, http.StatusCreated, o)
	}
}

func (s *service) getOrder(w http.ResponseWriter, r *http.Request, id int64) {
	o := Order{ID: id}
	err := s.store(r.Context()).QueryRowContext(r.Context(), "SELECT CustomerID, Item, Quantity FROM Orders WHERE ID = ?", id).Scan(&o.CustomerID, &o.Item, &o.Quantity)
	writeRow(w, err, o, "no order %d", id)
}

func (s *service) listOrders(w http.ResponseWriter, r *http.Request, customer int64) {
	q := s.store(r.Context())
	// Checked first, and apart: with one connection, a statement issued
	// while rows are open would wait for itself.
	if ok, err := customerExists(r.Context(), q, customer); err != nil {
		internalError(w, err)
		return
	} else if !ok {
		writeError(w, http.StatusNotFound, "NotFound", fmt.Sprintf("no customer %d", customer))
		return
	}
	rows, err := q.QueryContext(r.Context(), "SELECT ID, Item, Quantity FROM Orders WHERE CustomerID = ? ORDER BY ID", customer)
	writeCollection(w, rows, err, func(o *Order) []any {
		o.CustomerID = customer
		return []any{&o.ID, &o.Item, &o.Quantity}
	})
}

func customerExists(ctx context.Context, q querier, id int64) (bool, error) {
	var one int
	err := q.QueryRowContext(ctx, "SELECT 1 FROM Customers WHERE ID = ?", id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// collection is the JSON form of an OData collection.
type collection[T any] struct {
	Value []T `json:"value"`
}

// readJSON decodes the request body into v, rejecting unknown properties
// as an OData service does, and answers 400 when it cannot.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "BadRequest", "invalid JSON body: "+err.Error())
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("OData-Version", "4.0")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// odataError is the JSON error body of OData v4 (JSON format §21.2).
type odataError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	var e odataError
	e.Error.Code, e.Error.Message = code, msg
	writeJSON(w, status, e)
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	writeError(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "allowed: "+allow)
}

// internalError answers 500 without the SQL error's text, which is for the
// log, not for the client.
func internalError(w http.ResponseWriter, err error) {
	log.Printf("odata-sqlite: %v", err)
	writeError(w, http.StatusInternalServerError, "InternalError", "internal error")
}

// insert runs an INSERT into the entity set set and, when it succeeds, sets
// the Location of the new entity; otherwise it answers 500.
func insert(w http.ResponseWriter, r *http.Request, q querier, set, query string, args ...any) (int64, bool) {
	res, err := q.ExecContext(r.Context(), query, args...)
	var id int64
	if err == nil {
		id, err = res.LastInsertId()
	}
	if err != nil {
		internalError(w, err)
		return 0, false
	}
	w.Header().Set("Location", "/odata/"+set+"("+strconv.FormatInt(id, 10)+")")
	return id, true
}
