//go:build unix

package batch

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Azurite (npm azurite 3.37.0, Microsoft's Azure Storage emulator, locked
// in testdata/interop/azurite) serves Azure Blob batch: a multipart/mixed
// batch whose every sub-request is signed on its own with Shared Key. It
// is a server nobody here wrote, with rules of its own; see the README's
// interop table for what it asks of a client.

// azuriteAccount and azuriteKey are the emulator's well-known development
// account, documented in Azurite's README (not a secret: every emulator
// has it).
const (
	azuriteAccount = "devstoreaccount1"
	azuriteKey     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
	// azureVersion is the x-ms-version every request states: one that
	// Azurite 3.37.0 accepts without --skipApiVersionCheck.
	azureVersion = "2025-11-05"
)

// startAzurite starts Azurite's blob service on 127.0.0.1 at a port the
// system picks, in memory, and returns its account URL
// (http://127.0.0.1:port/devstoreaccount1). The process group is killed
// when the test ends.
func startAzurite(t *testing.T) string {
	t.Helper()
	skipShort(t)
	node, err := exec.LookPath("node")
	needPeer(t, "node", err)
	main, err := filepath.Abs("testdata/interop/azurite/node_modules/azurite/dist/src/blob/main.js")
	if err == nil {
		_, err = os.Stat(main)
	}
	needPeer(t, "npm's azurite", err)

	cmd := exec.Command(node, main,
		"--blobHost", "127.0.0.1", "--blobPort", "0",
		"--inMemoryPersistence", "--extentMemoryLimit", "256",
		"--silent", "--disableTelemetry")
	// Nothing is written to disk in memory mode; the directory is the
	// process's own in case a version writes a log there.
	cmd.Dir = t.TempDir()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	stop := func() {
		// node may have children: end the whole group.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}
	t.Cleanup(stop)
	const ready = "successfully listens on "
	addr := make(chan string, 1)
	var out strings.Builder
	go func() {
		defer close(exited)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if i := strings.Index(line, ready); i >= 0 {
				select {
				case addr <- strings.TrimSpace(line[i+len(ready):]):
				default:
				}
			} else if out.Len() < 4096 {
				out.WriteString(line + "\n")
			}
		}
		_ = cmd.Wait()
	}()
	select {
	case u := <-addr:
		t.Logf("azurite listening at %s after %v", u, time.Since(started).Round(time.Millisecond))
		return u + "/" + azuriteAccount
	case <-exited:
		t.Fatalf("azurite exited before listening: %s\n%s%s", cmd.ProcessState, &out, &stderr)
	case <-time.After(60 * time.Second):
		stop()
		t.Fatalf("azurite did not listen within 60 s:\n%s%s", &out, &stderr)
	}
	return ""
}

// sharedKey signs Azure Storage requests with Shared Key
// (https://learn.microsoft.com/rest/api/storageservices/authorize-with-shared-key),
// written here from the documentation, as each Azure SDK does.
type sharedKey struct {
	account string
	key     []byte
}

func newSharedKey(t *testing.T) *sharedKey {
	key, err := base64.StdEncoding.DecodeString(azuriteKey)
	if err != nil {
		t.Fatal(err)
	}
	return &sharedKey{account: azuriteAccount, key: key}
}

// sign sets r's x-ms-date, x-ms-version and Authorization headers. It
// reads the headers r will be sent with: call it last.
func (k *sharedKey) sign(r *http.Request) error {
	r.Header.Set("X-Ms-Date", time.Now().UTC().Format(http.TimeFormat))
	r.Header.Set("X-Ms-Version", azureVersion)
	length := ""
	if r.ContentLength > 0 {
		length = strconv.FormatInt(r.ContentLength, 10)
	}
	var b strings.Builder
	b.WriteString(r.Method + "\n")
	for _, name := range []string{"Content-Encoding", "Content-Language"} {
		b.WriteString(r.Header.Get(name) + "\n")
	}
	b.WriteString(length + "\n")
	for _, name := range []string{"Content-MD5", "Content-Type", "Date", "If-Modified-Since", "If-Match", "If-None-Match", "If-Unmodified-Since", "Range"} {
		b.WriteString(r.Header.Get(name) + "\n")
	}
	var ms []string
	for name := range r.Header {
		if l := strings.ToLower(name); strings.HasPrefix(l, "x-ms-") {
			ms = append(ms, l)
		}
	}
	slices.Sort(ms)
	for _, name := range ms {
		b.WriteString(name + ":" + strings.Join(r.Header.Values(name), ",") + "\n")
	}
	// The emulator's URLs are path-style: the account is both the
	// resource's owner and the first segment of its path.
	b.WriteString("/" + k.account + r.URL.EscapedPath())
	// Each query parameter: its name in lower case, its values decoded,
	// sorted and joined with commas, in order of name.
	q := make(map[string][]string)
	for name, vv := range r.URL.Query() {
		q[strings.ToLower(name)] = append(q[strings.ToLower(name)], vv...)
	}
	for _, name := range slices.Sorted(maps.Keys(q)) {
		b.WriteString("\n" + name + ":" + strings.Join(slices.Sorted(slices.Values(q[name])), ","))
	}
	mac := hmac.New(sha256.New, k.key)
	mac.Write([]byte(b.String()))
	r.Header.Set("Authorization", "SharedKey "+k.account+":"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	return nil
}

// do signs and sends a plain request to Azurite and returns its status
// and body.
func (k *sharedKey) do(t *testing.T, method, target string, body []byte, header http.Header) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, target, rd)
	if err != nil {
		t.Fatal(err)
	}
	for name, vv := range header {
		req.Header[name] = vv
	}
	if err := k.sign(req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// listBlobs returns the names of the blobs in container, every page of
// Azure's List Blobs.
func (k *sharedKey) listBlobs(t *testing.T, container string) []string {
	t.Helper()
	var names []string
	marker := ""
	for {
		target := container + "?restype=container&comp=list"
		if marker != "" {
			target += "&marker=" + url.QueryEscape(marker)
		}
		status, body := k.do(t, http.MethodGet, target, nil, nil)
		if status != http.StatusOK {
			t.Fatalf("List Blobs: %d %s", status, body)
		}
		var page struct {
			Blobs []struct {
				Name string
			} `xml:"Blobs>Blob"`
			NextMarker string
		}
		if err := xml.Unmarshal(body, &page); err != nil {
			t.Fatalf("List Blobs: %v\n%s", err, body)
		}
		for _, b := range page.Blobs {
			names = append(names, b.Name)
		}
		if page.NextMarker == "" {
			return names
		}
		marker = page.NextMarker
	}
}

// azureRecorder signs each outer batch request, whose Content-Type (with
// the boundary the Client draws) and Content-Length are only known when it
// is sent, and keeps what was sent and answered, read with the standard
// library's mime/multipart as the oracle.
type azureRecorder struct {
	key *sharedKey
	mu  sync.Mutex
	got []azureExchange
}

// An azureExchange is one batch request as Azurite received it, and the
// status it answered.
type azureExchange struct {
	Status        int
	ContentLength int64
	Parts         []azurePart
}

// An azurePart is a part of a batch request: its Content-ID, its
// embedded request's request line, and which of the fields Shared Key
// needs it carried.
type azurePart struct {
	ContentType, ContentTransferEncoding, ContentID, RequestLine string
	Signed                                                       bool
}

func (ar *azureRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if err := ar.key.sign(r); err != nil {
		return nil, err
	}
	// Read the body first, and send it framed as the client framed it:
	// ContentLength stays what the client set (0 with a body is
	// chunked), only the reader changes.
	var body []byte
	if r.Body != nil {
		var err error
		body, err = io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, err
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	ex := azureExchange{ContentLength: r.ContentLength}
	_, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return nil, err
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("the batch request as mime/multipart reads it: %w", err)
		}
		tr := textproto.NewReader(bufio.NewReader(p))
		line, err := tr.ReadLine()
		if err != nil {
			return nil, err
		}
		h, err := tr.ReadMIMEHeader()
		if err != nil {
			return nil, err
		}
		ex.Parts = append(ex.Parts, azurePart{
			ContentType:             p.Header.Get("Content-Type"),
			ContentTransferEncoding: p.Header.Get("Content-Transfer-Encoding"),
			ContentID:               p.Header.Get("Content-ID"),
			RequestLine:             line,
			Signed: strings.HasPrefix(h.Get("Authorization"), "SharedKey "+azuriteAccount+":") &&
				h.Get("X-Ms-Date") != "" && h.Get("X-Ms-Version") == azureVersion,
		})
	}
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	ex.Status = resp.StatusCode
	ar.mu.Lock()
	ar.got = append(ar.got, ex)
	ar.mu.Unlock()
	return resp, nil
}

// createBlobs creates a container at url and blobs named name0..name(n-1)
// in it with plain signed requests, and returns their names.
func (k *sharedKey) createBlobs(t *testing.T, container, name string, n int) []string {
	t.Helper()
	if status, body := k.do(t, http.MethodPut, container+"?restype=container", nil, nil); status != http.StatusCreated {
		t.Fatalf("Create Container: %d %s", status, body)
	}
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%s%03d", name, i)
	}
	var (
		wg   sync.WaitGroup
		next = make(chan string)
		errs = make(chan string, n)
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for name := range next {
				h := http.Header{"X-Ms-Blob-Type": {"BlockBlob"}, "Content-Type": {"text/plain"}}
				status, body := k.do(t, http.MethodPut, container+"/"+name, []byte("contents of "+name), h)
				if status != http.StatusCreated {
					errs <- fmt.Sprintf("Put Blob %s: %d %s", name, status, body)
				}
			}
		}()
	}
	for _, name := range names {
		next <- name
	}
	close(next)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	// List Blobs returns names in lexical order, as they are made.
	if diff := cmp.Diff(names, k.listBlobs(t, container)); diff != "" {
		t.Fatalf("blobs before the batch (-want +got):\n%s", diff)
	}
	return names
}

// deleteBatch returns a batch of c deleting each blob of names in
// container, with ids from id(i).
func deleteBatch(t *testing.T, c *Client, container string, names []string, id func(int) string) *Batch {
	t.Helper()
	b := c.NewBatch()
	for i, name := range names {
		req, err := http.NewRequest(http.MethodDelete, container+"/"+name, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Add(req, id(i)); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// TestInteropAzurite drives batch.Client against a real Azure Blob batch
// service (the emulator): 600 blobs deleted in one batch in the Azure
// profile, and what happens when a client breaks the service's rules.
func TestInteropAzurite(t *testing.T) {
	account := startAzurite(t)
	key := newSharedKey(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	t.Run("600 deletes in the Azure profile", func(t *testing.T) {
		container := account + "/batch600"
		names := key.createBlobs(t, container, "blob", 600)
		ar := &azureRecorder{key: key}
		var prepared atomic.Int64
		c := &Client{
			Endpoint:   container + "?restype=container&comp=batch",
			HTTPClient: &http.Client{Transport: ar},
			Limits:     LimitsAzureBlob(),
			// Each sub-request is signed on its own, with the
			// fields it is written with.
			PrepareCall: func(r *http.Request) error {
				prepared.Add(1)
				return key.sign(r)
			},
		}
		// Azure's Content-IDs are integers (Azurite reads them with
		// parseInt; see the next subtest).
		b := deleteBatch(t, c, container, names, strconv.Itoa)
		start := time.Now()
		if err := b.Do(ctx); err != nil {
			t.Fatalf("Do: %v", err)
		}
		t.Logf("600 deletes in %v", time.Since(start))
		wantStatus := make(map[string]int)
		gotStatus := make(map[string]int)
		for _, call := range b.Calls() {
			wantStatus[call.ID()] = http.StatusAccepted
			resp, err := call.Wait(ctx)
			if err != nil {
				t.Errorf("call %s: %v", call.ID(), err)
				continue
			}
			gotStatus[call.ID()] = resp.StatusCode
		}
		if diff := cmp.Diff(wantStatus, gotStatus); diff != "" {
			t.Errorf("each Delete Blob's status (-want +got):\n%s", diff)
		}
		if n := prepared.Load(); n != 600 {
			t.Errorf("PrepareCall ran %d times, want 600", n)
		}

		// What Azurite received: three requests of at most 256
		// sub-requests, each with its Content-Length, every part an
		// application/http one in binary (the fields Azure documents)
		// with an integer Content-ID and a signed Delete Blob, all
		// answered 202.
		var sizes []int
		wantParts := make(map[string]azurePart)
		for i, name := range names {
			id := strconv.Itoa(i)
			wantParts[id] = azurePart{ContentType: "application/http", ContentTransferEncoding: "binary", ContentID: id,
				RequestLine: "DELETE /" + azuriteAccount + "/batch600/" + name + " HTTP/1.1", Signed: true}
		}
		gotParts := make(map[string]azurePart)
		for _, ex := range ar.got {
			if ex.Status != http.StatusAccepted || ex.ContentLength <= 0 {
				t.Errorf("a batch request of %d parts: Content-Length %d, answered %d", len(ex.Parts), ex.ContentLength, ex.Status)
			}
			sizes = append(sizes, len(ex.Parts))
			for _, p := range ex.Parts {
				gotParts[p.ContentID] = p
			}
		}
		if len(sizes) != 3 || slices.Max(sizes) > 256 {
			t.Errorf("sub-requests in each batch request: %v, want three requests of at most 256", sizes)
		}
		if diff := cmp.Diff(wantParts, gotParts); diff != "" {
			t.Errorf("the parts Azurite received (-want +got):\n%s", diff)
		}
		if left := key.listBlobs(t, container); len(left) != 0 {
			t.Errorf("%d blobs left after the batch: %q", len(left), left)
		}
	})

	t.Run("Content-IDs that are not integers", func(t *testing.T) {
		// Azurite reads a Content-ID with parseInt and answers "x1"
		// as "Content-ID: NaN": the client cannot tell the answers
		// apart, and gives none of them to a call, though Azurite
		// ran every one.
		container := account + "/names"
		names := key.createBlobs(t, container, "blob", 3)
		c := &Client{
			Endpoint:    container + "?restype=container&comp=batch",
			HTTPClient:  &http.Client{Transport: &azureRecorder{key: key}},
			Limits:      LimitsAzureBlob(),
			PrepareCall: key.sign,
		}
		b := deleteBatch(t, c, container, names, func(i int) string { return "x" + strconv.Itoa(i) })
		err := b.Do(ctx)
		if !errors.Is(err, ErrResponseMismatch) || !strings.Contains(err.Error(), `"NaN"`) {
			t.Errorf("Do: %v, want ErrResponseMismatch naming the Content-ID NaN", err)
		}
		for _, call := range b.Calls() {
			if resp, err := call.Wait(ctx); resp != nil || err == nil {
				t.Errorf("call %s: %v, %v; want no response", call.ID(), resp, err)
			}
		}
		if left := key.listBlobs(t, container); len(left) != 0 {
			t.Errorf("%d blobs left: %q", len(left), left)
		}
	})

	t.Run("more than 256 sub-requests in one request", func(t *testing.T) {
		// Azurite refuses the whole batch with 202 and a single part
		// without Content-ID, a 400 ExceedsMaxBatchRequestCount: an
		// answer to no call, which the client gives to none (by
		// position it would be the first call's).
		container := account + "/toomany"
		names := key.createBlobs(t, container, "blob", 257)
		c := &Client{
			Endpoint:    container + "?restype=container&comp=batch",
			HTTPClient:  &http.Client{Transport: &azureRecorder{key: key}},
			Limits:      Limits{MaxCalls: 300, MaxBodyBytes: 4 << 20},
			PrepareCall: key.sign,
		}
		b := deleteBatch(t, c, container, names, strconv.Itoa)
		if err := b.Do(ctx); !errors.Is(err, ErrResponseMismatch) {
			t.Errorf("Do: %v, want ErrResponseMismatch", err)
		}
		for _, call := range b.Calls() {
			if resp, err := call.Wait(ctx); resp != nil || err == nil {
				t.Errorf("call %s: %v, %v; want no response", call.ID(), resp, err)
			}
		}
		if diff := cmp.Diff(names, key.listBlobs(t, container)); diff != "" {
			t.Errorf("blobs after the refused batch (-want +got):\n%s", diff)
		}
	})
}
