package batch

import (
	"context"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestClientReadsSeedResponses(t *testing.T) {
	for _, tc := range []struct {
		file string
		ids  []string
		want map[string]result
	}{
		{
			file: "../testdata/calendar-batch-response.http",
			ids:  []string{"item1:12930812@barnyard.example.com", "item2:12930812@barnyard.example.com", "item3:12930812@barnyard.example.com"},
			want: map[string]result{
				"item1:12930812@barnyard.example.com": {Status: 200, Body: "{\r\n  \"kind\": \"farm#animal\",\r\n  \"etag\": \"etag/pony\",\r\n  \"selfLink\": \"/farm/v1/animals/pony\",\r\n  \"animalName\": \"pony\",\r\n  \"animalAge\": 34,\r\n  \"peltColor\": \"white\"\r\n}\r\n"},
				"item2:12930812@barnyard.example.com": {Status: 200, Body: "{\r\n  \"kind\": \"farm#animal\",\r\n  \"etag\": \"etag/sheep\",\r\n  \"selfLink\": \"/farm/v1/animals/sheep\",\r\n  \"animalName\": \"sheep\",\r\n  \"animalAge\": 5,\r\n  \"peltColor\": \"green\"\r\n}\r\n"},
				"item3:12930812@barnyard.example.com": {Status: 304},
			},
		},
		{
			file: "../testdata/people-batch-response.http",
			ids:  []string{"1", "2"},
			want: map[string]result{
				"1": {Status: 200, Body: `{ "resourceName": "people/c11111111111111", "etag": "1111", "names": [{ "givenName": "John", "familyName": "Doe" }] }`},
				"2": {Status: 200, Body: `{ "resourceName": "people/c123456789012345", "etag": "1234", "emailAddresses": [{ "value": "" }] }`},
			},
		},
	} {
		t.Run(tc.file, func(t *testing.T) {
			base := replay(t, tc.file)
			b := (&Client{Endpoint: base + "/batch/farm/v1"}).NewBatch()
			for _, id := range tc.ids {
				req, _ := http.NewRequest("GET", "/farm/v1/animals", nil)
				if _, err := b.Add(req, id); err != nil {
					t.Fatal(err)
				}
			}
			if err := b.Do(context.Background()); err != nil {
				t.Fatal(err)
			}
			got := map[string]result{}
			for id, c := range b.Results() {
				got[id] = outcome(t, c)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("results (-want +got):\n%s", diff)
			}
		})
	}
}
