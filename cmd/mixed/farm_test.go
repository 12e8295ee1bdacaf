package main

import (
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The demo store is bounded: PUT bodies past farmMaxBody answer 413, and
// a PUT that would create an animal past farmMaxAnimals answers 507,
// while replacing one still works.
func TestFarmLimits(t *testing.T) {
	f := newFarm()
	put := func(name, body string) int {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("PUT", "/farm/v1/animals/"+name, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		f.ServeHTTP(w, r)
		return w.Code
	}
	animal := `{"animalAge":1,"peltColor":"red"}`
	long := `{"animalAge":1,"peltColor":"` + strings.Repeat("x", farmMaxBody) + `"}`
	edge := `{"animalAge":1,"peltColor":"` + strings.Repeat("x", farmMaxBody-len(animal)+len("red")) + `"}`
	if len(edge) != farmMaxBody {
		t.Fatalf("edge body is %d bytes", len(edge))
	}
	if diff := cmp.Diff([]int{413, 404, 201}, []int{put("big", long), get(f, "big"), put("edge", edge)}); diff != "" {
		t.Errorf("body limit (-want +got):\n%s", diff)
	}
	// The store holds pony, sheep and edge: fill it up.
	for i := len(f.animals); i < farmMaxAnimals; i++ {
		if code := put("a"+strconv.Itoa(i), animal); code != 201 {
			t.Fatalf("animal %d: %d", i, code)
		}
	}
	if diff := cmp.Diff([]int{507, 404, 200, 204, 201, 507}, []int{
		put("one-more", animal), get(f, "one-more"),
		put("pony", animal), // replacing is not growing
		del(f, "sheep"), put("one-more", animal), put("two-more", animal),
	}); diff != "" {
		t.Errorf("count limit (-want +got):\n%s", diff)
	}
	if len(f.animals) != farmMaxAnimals {
		t.Errorf("%d animals, want %d", len(f.animals), farmMaxAnimals)
	}
}

// get and del send one call to the farm directly and return its status.
func get(f *farm, name string) int {
	w := httptest.NewRecorder()
	f.ServeHTTP(w, httptest.NewRequest("GET", "/farm/v1/animals/"+name, nil))
	return w.Code
}

func del(f *farm, name string) int {
	w := httptest.NewRecorder()
	f.ServeHTTP(w, httptest.NewRequest("DELETE", "/farm/v1/animals/"+name, nil))
	return w.Code
}
