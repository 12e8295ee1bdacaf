package batch

// The client's JSON wire: a batch request written as an OData 4.01 or a
// Microsoft Graph JSON batch, and the response objects read back into the
// calls by id.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// maxCalls is the most calls of one batch request: Client.MaxCalls, or the
// default of the client's format.
func (c *Client) maxCalls() int {
	switch {
	case c.MaxCalls > 0:
		return c.MaxCalls
	case c.Format == FormatGraphJSON:
		return DefaultMaxGraphCalls
	}
	return DefaultMaxCalls
}

// sendChunk sends one batch request of calls in the client's format.
func (c *Client) sendChunk(ctx context.Context, outer http.Header, calls []*Call) error {
	return sendFormat(ctx, c.httpClient(), c.Format, c.Endpoint, outer, calls)
}

// sendFormat sends one batch request of calls in format f.
func sendFormat(ctx context.Context, hc *http.Client, f Format, endpoint string, outer http.Header, calls []*Call) error {
	if f == FormatMultipart {
		return send(ctx, hc, endpoint, outer, calls)
	}
	return sendJSON(ctx, hc, f, endpoint, outer, calls)
}

// sendJSON is send for the JSON formats: it streams the request objects
// into the request body and settles each call from its response object.
func sendJSON(ctx context.Context, hc *http.Client, f Format, endpoint string, outer http.Header, calls []*Call) (err error) {
	defer func() {
		for _, c := range calls {
			if err != nil {
				c.settle(nil, err)
			} else {
				c.settle(nil, fmt.Errorf("%w %q", ErrNoResponse, c.id))
			}
		}
	}()
	if f != FormatODataJSON && f != FormatGraphJSON {
		return fmt.Errorf("batch: Client.Format %v is not a batch format", f)
	}
	if f == FormatGraphJSON {
		for _, c := range calls {
			if c.cs != nil {
				return fmt.Errorf("batch: changeset %q: Graph JSON batches have no atomic groups", c.cs.id)
			}
		}
	}
	pr, pw := io.Pipe()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, pr)
	if err != nil {
		return fmt.Errorf("batch: %w", err)
	}
	for k, vv := range outer {
		req.Header[k] = vv
	}
	req.Header.Set("Content-Type", "application/json")
	if f == FormatODataJSON {
		req.Header.Set("OData-Version", "4.01")
	}
	go func() {
		bw := bufio.NewWriterSize(pw, 32<<10)
		err := writeJSONCalls(bw, f, calls, outer)
		if err == nil {
			err = bw.Flush()
		}
		pw.CloseWithError(err)
	}()
	resp, err := hc.Do(req)
	if err != nil {
		pr.CloseWithError(err)
		return fmt.Errorf("batch: request failed: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return &StatusError{StatusCode: resp.StatusCode, Status: resp.Status, Body: string(msg)}
	}
	if !isJSONMedia(resp.Header.Get("Content-Type")) {
		return fmt.Errorf("batch: response is not a JSON batch: Content-Type %q", resp.Header.Get("Content-Type"))
	}
	return readJSONResponses(resp.Body, calls)
}

// writeJSONCalls writes the request objects of calls: a changeset's calls
// in an atomicity group named by its id; a target that starts with $id of
// another call depends on it; fields shared with outer left out, as in
// multipart batches.
func writeJSONCalls(w *bufio.Writer, f Format, calls []*Call, outer http.Header) error {
	ids := make(map[string]bool, len(calls))
	b := []byte(`{"requests":[`)
	var keys []string
	for i, c := range calls {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b = appendJSONString(b, c.id)
		if c.cs != nil {
			b = append(b, `,"atomicityGroup":`...)
			b = appendJSONString(b, c.cs.id)
		}
		b = append(b, `,"method":`...)
		b = appendJSONString(b, c.req.Method)
		target := c.req.URL.RequestURI()
		if c.req.URL.Host == "" && !strings.HasPrefix(c.req.URL.Path, "/") && c.req.URL.Opaque == "" {
			// A relative target (OData's Customers, $1/Orders) as it is.
			target = strings.TrimPrefix(c.req.URL.String(), "/")
		}
		b = append(b, `,"url":`...)
		b = appendJSONString(b, target)
		if strings.HasPrefix(target, "$") {
			id, _, _ := strings.Cut(target[1:], "/")
			id, _, _ = strings.Cut(id, "?")
			if ids[id] {
				b = append(b, `,"dependsOn":[`...)
				b = appendJSONString(b, id)
				b = append(b, ']')
			}
		}
		ids[c.id] = true
		body, err := requestBody(c.req)
		if err != nil {
			return fmt.Errorf("batch: call %q: %w", c.id, err)
		}
		keys = keys[:0]
		for k, vv := range c.req.Header {
			if ov, ok := outer[k]; ok && slices.Equal(ov, vv) || k == "Content-Length" || k == "Transfer-Encoding" {
				continue
			}
			keys = append(keys, k)
		}
		slices.Sort(keys)
		ct := c.req.Header.Get("Content-Type")
		b = append(b, `,"headers":{`...)
		for j, k := range keys {
			if j > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			b = appendJSONString(b, strings.Join(c.req.Header[k], ", "))
		}
		if len(body) > 0 && ct == "" {
			// Without a Content-Type a body is JSON to the server: say
			// what net/http would sniff.
			ct = http.DetectContentType(body)
			if len(keys) > 0 {
				b = append(b, ',')
			}
			b = append(b, `"Content-Type":`...)
			b = appendJSONString(b, ct)
		}
		b = append(b, '}')
		if len(body) > 0 {
			b = append(b, `,"body":`...)
			if isJSONMedia(ct) && json.Valid(body) {
				b = append(b, bytes.TrimSpace(body)...)
			} else {
				enc := base64.StdEncoding
				if f == FormatODataJSON {
					enc = base64.URLEncoding
				}
				b = append(b, '"')
				b = enc.AppendEncode(b, body)
				b = append(b, '"')
			}
		}
		b = append(b, '}')
		if _, err := w.Write(b); err != nil {
			return err
		}
		b = b[:0]
	}
	_, err := w.Write(append(b, "]}"...))
	return err
}

// requestBody reads the body of a call's request: through GetBody when it
// has one, leaving the request as it was.
func requestBody(req *http.Request) ([]byte, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return nil, nil
	}
	rc := req.Body
	if req.GetBody != nil {
		var err error
		if rc, err = req.GetBody(); err != nil {
			return nil, err
		}
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// readJSONResponses reads the response objects one at a time and settles
// the calls they answer, by id. A changeset whose calls did not all
// succeed gives each of them a ChangesetError holding the response that
// failed (the first that is not a 424, which only says another failed).
func readJSONResponses(body io.Reader, calls []*Call) error {
	byID := make(map[string]*Call, len(calls))
	for _, c := range calls {
		byID[c.id] = c
	}
	held := map[*Changeset][]answer{}
	dec := json.NewDecoder(body)
	if err := expectDelim(dec, '{'); err != nil {
		return fmt.Errorf("batch: reading the batch response: %w", err)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("batch: reading the batch response: %w", err)
		}
		if tok != "responses" {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return fmt.Errorf("batch: reading the batch response: %w", err)
			}
			continue
		}
		if err := expectDelim(dec, '['); err != nil {
			return fmt.Errorf("batch: reading the batch response: %w", err)
		}
		for dec.More() {
			var e struct {
				ID      jsonText              `json:"id"`
				Status  int                   `json:"status"`
				Headers map[string]jsonValues `json:"headers"`
				Body    json.RawMessage       `json:"body"`
			}
			if err := dec.Decode(&e); err != nil {
				var te *json.UnmarshalTypeError
				if errors.As(err, &te) || errors.Is(err, ErrJSONRequest) {
					continue // a response object for no call we can tell
				}
				return fmt.Errorf("batch: reading the batch response: %w", err)
			}
			c := byID[string(e.ID)]
			if c == nil {
				continue
			}
			resp, err := jsonResponse(c, e.Status, e.Headers, e.Body)
			switch {
			case err != nil:
				c.settle(nil, err)
			case c.cs != nil:
				held[c.cs] = append(held[c.cs], answer{c, resp})
			default:
				c.settle(resp, nil)
			}
		}
		if err := expectDelim(dec, ']'); err != nil {
			return fmt.Errorf("batch: reading the batch response: %w", err)
		}
	}
	for cs, resps := range held {
		settleGroup(cs, resps)
	}
	return nil
}

// jsonResponse is the *http.Response of call c from its response object.
func jsonResponse(c *Call, status int, headers map[string]jsonValues, raw json.RawMessage) (*http.Response, error) {
	if status < 100 || status > 999 {
		return nil, fmt.Errorf("batch: call %q: response status %d", c.id, status)
	}
	h := make(http.Header, len(headers))
	for k, vv := range headers {
		for _, v := range vv {
			h.Add(k, v)
		}
	}
	var b []byte
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0 || string(raw) == "null":
	case raw[0] != '"' || isJSONMedia(h.Get("Content-Type")):
		b = raw
	default:
		s, err := unquote(raw)
		if err == nil {
			b, err = decodeBase64(s)
		}
		if err != nil {
			return nil, fmt.Errorf("batch: call %q: response body: %w", c.id, err)
		}
	}
	h.Del("Content-Length")
	return &http.Response{
		Status:        strconv.Itoa(status) + " " + http.StatusText(status),
		StatusCode:    status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          io.NopCloser(bytes.NewReader(b)),
		ContentLength: int64(len(b)),
		Request:       c.req,
	}, nil
}

// An answer is the response of a call of a changeset, held until every
// response of the changeset is known.
type answer struct {
	c    *Call
	resp *http.Response
}

// settleGroup settles the calls of changeset cs from their answers, in
// response order.
func settleGroup(cs *Changeset, answers []answer) {
	var failed *answer
	for i, a := range answers {
		if a.resp.StatusCode >= 400 && (failed == nil || failed.resp.StatusCode == http.StatusFailedDependency) {
			failed = &answers[i]
		}
	}
	if failed == nil {
		for _, a := range answers {
			a.c.settle(a.resp, nil)
		}
		return
	}
	body, _ := io.ReadAll(failed.resp.Body)
	for _, c := range cs.calls {
		r2 := *failed.resp
		r2.Body = io.NopCloser(bytes.NewReader(body))
		c.settle(nil, &ChangesetError{ID: failed.c.id, StatusCode: failed.resp.StatusCode, Response: &r2, changeset: cs.id})
	}
}
