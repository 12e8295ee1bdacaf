package batch_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"

	"github.com/mixedcodec/mixed/batch"
)

// shop is an in-memory store of customers and their orders. A changeset's
// group holds the store's lock until it commits or rolls back, and rolling
// back drops what the changeset added.
type shop struct {
	mu     sync.Mutex
	orders map[string][]int // customer → quantities
}

type shopTx struct {
	s     *shop
	added []string // customers created in the group, dropped on rollback
}

func (tx *shopTx) Commit() error { tx.s.mu.Unlock(); return nil }

func (tx *shopTx) Rollback() error {
	for _, c := range tx.added {
		delete(tx.s.orders, c)
	}
	tx.s.mu.Unlock()
	return nil
}

func (s *shop) begin(ctx context.Context) (batch.Group, error) {
	s.mu.Lock()
	return &shopTx{s: s}, nil
}

// ServeHTTP serves POST /odata/Customers and POST
// /odata/Customers/{name}/Orders; it runs inside a changeset's group here.
func (s *shop) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tx := batch.GroupFromContext(r.Context()).(*shopTx)
	var in struct {
		Name string
		Qty  int
	}
	json.NewDecoder(r.Body).Decode(&in)
	path := strings.TrimPrefix(r.URL.Path, "/odata/Customers")
	switch name, ok := strings.CutSuffix(strings.TrimPrefix(path, "/"), "/Orders"); {
	case path == "":
		s.orders[in.Name] = nil
		tx.added = append(tx.added, in.Name)
		w.Header().Set("Location", "/odata/Customers/"+in.Name)
		w.WriteHeader(http.StatusCreated)
	case ok && in.Qty > 0:
		s.orders[name] = append(s.orders[name], in.Qty)
		w.WriteHeader(http.StatusCreated)
	default:
		http.Error(w, "Qty must be positive", http.StatusBadRequest)
	}
}

// Two changesets, each creating a customer and an order for it through
// OData's "$<Content-ID>" target: the first commits; the second, whose order
// is refused, rolls back as a whole.
func ExampleChangeset() {
	s := &shop{orders: map[string][]int{}}
	srv := httptest.NewServer(batch.NewHandlerOptions(s, batch.HandlerOptions{BeginGroup: s.begin}))
	defer srv.Close()

	b := (&batch.Client{Endpoint: srv.URL + "/odata/$batch"}).NewBatch()
	for _, order := range []struct {
		name string
		qty  int
	}{{"ann", 2}, {"bob", 0}} {
		cs := b.Changeset()
		// Relative targets resolve against the batch URL: /odata/Customers.
		cust, _ := http.NewRequest("POST", "Customers", strings.NewReader(`{"Name":"`+order.name+`"}`))
		if _, err := cs.Add(cust, order.name); err != nil {
			log.Fatal(err)
		}
		// "$ann/Orders" becomes the Location of call "ann", plus "/Orders".
		ord, _ := http.NewRequest("POST", "$"+order.name+"/Orders", strings.NewReader(fmt.Sprintf(`{"Qty":%d}`, order.qty)))
		if _, err := cs.Add(ord, order.name+"-order"); err != nil {
			log.Fatal(err)
		}
	}
	if err := b.Do(context.Background()); err != nil {
		log.Fatal(err)
	}
	for _, call := range b.Calls() {
		resp, err := call.Wait(context.Background())
		var rolledBack *batch.ChangesetError
		switch {
		case errors.As(err, &rolledBack):
			body, _ := io.ReadAll(rolledBack.Response.Body)
			fmt.Printf("%s: rolled back, call %s failed: %d %s", call.ID(), rolledBack.ID, rolledBack.StatusCode, body)
		case err != nil:
			log.Fatal(err)
		default:
			fmt.Println(strings.TrimSpace(call.ID() + ": " + resp.Status + " " + resp.Header.Get("Location")))
		}
	}
	fmt.Println("store:", s.orders)
	// Output:
	// ann: 201 Created /odata/Customers/ann
	// ann-order: 201 Created
	// bob: rolled back, call bob-order failed: 400 Qty must be positive
	// bob-order: rolled back, call bob-order failed: 400 Qty must be positive
	// store: map[ann:[2]]
}
