// Command bench-raw measures what the servers themselves allow, without linstor-db in the way: the
// "raw" baselines of the linstor-db benchmark (BENCHMARKS.md).
//
//	bench-raw k8s-list   [conn flags] [-group G] [-limit 500] [-c 1] [-dump DIR]
//	    Paginated LIST (limit=500, continue tokens) of every custom resource of every CRD of the
//	    group, -c CRDs at a time. With -dump, also writes DIR/crds.json (the CRDs) and
//	    DIR/objects/<crd>.json (a List of the objects with apiVersion, kind, name and spec only),
//	    which is what k8s-create and `kubectl create -f` read.
//	bench-raw k8s-create [conn flags] [-c 32] DIR
//	    POSTs the CRDs of DIR/crds.json, waits until they are Established, then POSTs every object of
//	    DIR/objects/*.json with -c requests in flight (retrying 404 while a new CRD is not yet served,
//	    429 and 5xx).
//	bench-raw k8s-count  [conn flags] [-group G]
//	    Number of custom resources of the group (a LIST with limit=1 per CRD, remainingItemCount).
//	bench-raw etcd-txn   -endpoints E [-ops 128] [-c 8] FILE
//	    Writes the keys and values of FILE (`etcdctl get --prefix -w json` output) with transactions of
//	    -ops puts, -c transactions in flight, over one client connection.
//	bench-raw etcdctl-txn-files [-ops 128] FILE DIR
//	    Splits the same keys into DIR/NNNNNN.txn, one `etcdctl txn` request of -ops puts per file.
//
// Connection flags: -server URL -ca FILE and either -token TOKEN or -cert FILE -key FILE.
// Every command prints one JSON object with counts on stdout; timing is left to the caller.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

func main() {
	if len(os.Args) < 2 {
		fail(errors.New("usage: bench-raw k8s-list|k8s-create|k8s-count|etcd-txn|etcdctl-txn-files [flags] [args]"))
	}
	cmd, args := os.Args[1], os.Args[2:]
	var err error
	switch cmd {
	case "k8s-list":
		err = k8sList(args)
	case "k8s-create":
		err = k8sCreate(args)
	case "k8s-count":
		err = k8sCount(args)
	case "etcd-txn":
		err = etcdTxn(args)
	case "etcdctl-txn-files":
		err = etcdctlTxnFiles(args)
	default:
		err = fmt.Errorf("unknown command %q", cmd)
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench-raw:", err)
	os.Exit(2)
}

func printJSON(v any) {
	out, _ := json.Marshal(v)
	fmt.Println(string(out))
}

// ---------------------------------------------------------------------------------------------
// Kubernetes

type conn struct {
	server string
	token  string
	client *http.Client
}

type connFlags struct {
	server, ca, cert, key, token *string
}

func addConnFlags(fs *flag.FlagSet) connFlags {
	return connFlags{
		server: fs.String("server", "", "API server URL"),
		ca:     fs.String("ca", "", "CA certificate file"),
		cert:   fs.String("cert", "", "client certificate file"),
		key:    fs.String("key", "", "client key file"),
		token:  fs.String("token", "", "bearer token"),
	}
}

func (f connFlags) connect() (*conn, error) {
	if *f.server == "" {
		return nil, errors.New("-server is required")
	}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if *f.ca != "" {
		pem, err := os.ReadFile(*f.ca)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("no certificate in %s", *f.ca)
		}
		tlsConfig.RootCAs = pool
	}
	if *f.cert != "" {
		pair, err := tls.LoadX509KeyPair(*f.cert, *f.key)
		if err != nil {
			return nil, err
		}
		tlsConfig.Certificates = []tls.Certificate{pair}
	}
	// HTTP/2 as client-go uses it; a custom TLS config needs ForceAttemptHTTP2 for that.
	transport := &http.Transport{TLSClientConfig: tlsConfig, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 256}
	return &conn{server: strings.TrimRight(*f.server, "/"), token: *f.token, client: &http.Client{Transport: transport}}, nil
}

func (c *conn) do(method, path string, body []byte) (int, []byte, error) {
	var reader io.Reader
	if body != nil {
		reader = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, c.server+path, reader)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, data, err
}

func (c *conn) getJSON(path string, into any) error {
	status, data, err := c.do(http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d: %s", path, status, truncate(data))
	}
	return json.Unmarshal(data, into)
}

func truncate(data []byte) string {
	if len(data) > 300 {
		return string(data[:300]) + "…"
	}
	return string(data)
}

type crdInfo struct {
	Name    string
	Plural  string
	Kind    string
	Storage string
	Raw     map[string]any
}

const crdPath = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"

func listCRDs(c *conn, group string) ([]crdInfo, error) {
	var list struct {
		Items []map[string]any `json:"items"`
	}
	if err := c.getJSON(crdPath, &list); err != nil {
		return nil, err
	}
	var crds []crdInfo
	for _, item := range list.Items {
		spec, _ := item["spec"].(map[string]any)
		if spec["group"] != group {
			continue
		}
		names, _ := spec["names"].(map[string]any)
		meta, _ := item["metadata"].(map[string]any)
		info := crdInfo{Name: fmt.Sprint(meta["name"]), Plural: fmt.Sprint(names["plural"]), Kind: fmt.Sprint(names["kind"]), Raw: item}
		versions, _ := spec["versions"].([]any)
		for _, v := range versions {
			version, _ := v.(map[string]any)
			if version["storage"] == true {
				info.Storage = fmt.Sprint(version["name"])
			}
		}
		if info.Storage == "" {
			return nil, fmt.Errorf("CRD %s has no storage version", info.Name)
		}
		crds = append(crds, info)
	}
	sort.Slice(crds, func(i, j int) bool { return crds[i].Name < crds[j].Name })
	return crds, nil
}

type listPage struct {
	Metadata struct {
		Continue           string `json:"continue"`
		RemainingItemCount *int64 `json:"remainingItemCount"`
	} `json:"metadata"`
	Items []json.RawMessage `json:"items"`
}

func k8sList(args []string) error {
	fs := flag.NewFlagSet("k8s-list", flag.ExitOnError)
	cf := addConnFlags(fs)
	group := fs.String("group", "internal.linstor.linbit.com", "API group")
	limit := fs.Int("limit", 500, "objects per page")
	concurrency := fs.Int("c", 1, "CRDs listed at a time")
	dump := fs.String("dump", "", "write CRDs and objects to this directory")
	_ = fs.Parse(args)
	c, err := cf.connect()
	if err != nil {
		return err
	}
	crds, err := listCRDs(c, *group)
	if err != nil {
		return err
	}
	if *dump != "" {
		if err := os.MkdirAll(filepath.Join(*dump, "objects"), 0o755); err != nil {
			return err
		}
		var items []any
		for _, crd := range crds {
			items = append(items, map[string]any{
				"apiVersion": "apiextensions.k8s.io/v1",
				"kind":       "CustomResourceDefinition",
				"metadata":   map[string]any{"name": crd.Name},
				"spec":       crd.Raw["spec"],
			})
		}
		if err := writeList(filepath.Join(*dump, "crds.json"), items); err != nil {
			return err
		}
	}
	var total atomic.Int64
	err = forEach(len(crds), *concurrency, func(i int) error {
		crd := crds[i]
		base := fmt.Sprintf("/apis/%s/%s/%s", *group, crd.Storage, crd.Plural)
		token := ""
		var kept []any
		for {
			path := base + "?limit=" + strconv.Itoa(*limit)
			if token != "" {
				path += "&continue=" + url.QueryEscape(token)
			}
			var page listPage
			if err := c.getJSON(path, &page); err != nil {
				return err
			}
			total.Add(int64(len(page.Items)))
			if *dump != "" {
				for _, raw := range page.Items {
					object, err := stripObject(raw)
					if err != nil {
						return fmt.Errorf("%s: %w", crd.Name, err)
					}
					kept = append(kept, object)
				}
			}
			token = page.Metadata.Continue
			if token == "" {
				break
			}
		}
		if *dump != "" && len(kept) > 0 {
			return writeList(filepath.Join(*dump, "objects", crd.Name+".json"), kept)
		}
		return nil
	})
	if err != nil {
		return err
	}
	printJSON(map[string]any{"crds": len(crds), "objects": total.Load()})
	return nil
}

// stripObject keeps what a create needs: apiVersion, kind, name, labels, annotations and spec.
func stripObject(raw json.RawMessage) (map[string]any, error) {
	var object map[string]any
	if err := json.Unmarshal(raw, &object); err != nil {
		return nil, err
	}
	meta, _ := object["metadata"].(map[string]any)
	kept := map[string]any{"name": meta["name"]}
	for _, key := range []string{"labels", "annotations"} {
		if v, ok := meta[key]; ok {
			kept[key] = v
		}
	}
	out := map[string]any{"apiVersion": object["apiVersion"], "kind": object["kind"], "metadata": kept}
	if spec, ok := object["spec"]; ok {
		out["spec"] = spec
	}
	return out, nil
}

func writeList(path string, items []any) error {
	data, err := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "List", "items": items})
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

func readList(path string) ([]map[string]any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var list struct {
		Items []map[string]any `json:"items"`
	}
	if err := json.Unmarshal(data, &list); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return list.Items, nil
}

// forEach runs fn(0..n-1) with at most `workers` at a time and returns the first error.
func forEach(n, workers int, fn func(int) error) error {
	if workers < 1 {
		workers = 1
	}
	next := atomic.Int64{}
	var firstErr error
	var once sync.Once
	var failed atomic.Bool
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					once.Do(func() { firstErr = err })
					failed.Store(true)
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}

type postJob struct {
	path string
	body []byte
	name string
}

// post POSTs with retries: 404 (a new CRD not served yet), 409 on a retried create that had landed,
// 429 and 5xx are retried with backoff for up to two minutes.
func (c *conn) post(job postJob, retried *atomic.Int64) error {
	deadline := time.Now().Add(2 * time.Minute)
	delay := 50 * time.Millisecond
	attempt := 0
	for {
		status, data, err := c.do(http.MethodPost, job.path, job.body)
		switch {
		case err == nil && status == http.StatusCreated:
			return nil
		case err == nil && status == http.StatusConflict && attempt > 0:
			return nil // an earlier attempt was created after all
		case err == nil && status != http.StatusNotFound && status != http.StatusTooManyRequests && status < 500:
			return fmt.Errorf("POST %s (%s): HTTP %d: %s", job.path, job.name, status, truncate(data))
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("POST %s (%s): %w", job.path, job.name, err)
			}
			return fmt.Errorf("POST %s (%s): HTTP %d after retries: %s", job.path, job.name, status, truncate(data))
		}
		retried.Add(1)
		attempt++
		time.Sleep(delay)
		if delay < time.Second {
			delay *= 2
		}
	}
}

func k8sCreate(args []string) error {
	fs := flag.NewFlagSet("k8s-create", flag.ExitOnError)
	cf := addConnFlags(fs)
	concurrency := fs.Int("c", 32, "requests in flight")
	_ = fs.Parse(args)
	if fs.NArg() != 1 {
		return errors.New("k8s-create needs the directory written by k8s-list -dump")
	}
	dir := fs.Arg(0)
	c, err := cf.connect()
	if err != nil {
		return err
	}
	crds, err := readList(filepath.Join(dir, "crds.json"))
	if err != nil {
		return err
	}
	files, err := filepath.Glob(filepath.Join(dir, "objects", "*.json"))
	if err != nil {
		return err
	}
	var jobs []postJob
	plurals := map[string]string{} // "group/Kind" -> plural
	for _, crd := range crds {
		spec, _ := crd["spec"].(map[string]any)
		names, _ := spec["names"].(map[string]any)
		plurals[fmt.Sprintf("%v/%v", spec["group"], names["kind"])] = fmt.Sprint(names["plural"])
	}
	for _, file := range files {
		items, err := readList(file)
		if err != nil {
			return err
		}
		for _, item := range items {
			apiVersion := fmt.Sprint(item["apiVersion"])
			group := apiVersion[:strings.LastIndex(apiVersion, "/")]
			plural, ok := plurals[fmt.Sprintf("%s/%v", group, item["kind"])]
			if !ok {
				return fmt.Errorf("%s: no CRD for %s %v", file, apiVersion, item["kind"])
			}
			body, err := json.Marshal(item)
			if err != nil {
				return err
			}
			meta, _ := item["metadata"].(map[string]any)
			jobs = append(jobs, postJob{path: fmt.Sprintf("/apis/%s/%s", apiVersion, plural), body: body, name: fmt.Sprint(meta["name"])})
		}
	}
	var retried atomic.Int64
	err = forEach(len(crds), *concurrency, func(i int) error {
		body, err := json.Marshal(crds[i])
		if err != nil {
			return err
		}
		meta, _ := crds[i]["metadata"].(map[string]any)
		return c.post(postJob{path: crdPath, body: body, name: fmt.Sprint(meta["name"])}, &retried)
	})
	if err != nil {
		return err
	}
	if err := waitEstablished(c, crds); err != nil {
		return err
	}
	err = forEach(len(jobs), *concurrency, func(i int) error { return c.post(jobs[i], &retried) })
	if err != nil {
		return err
	}
	printJSON(map[string]any{"crds": len(crds), "objects": len(jobs), "retries": retried.Load(), "concurrency": *concurrency})
	return nil
}

func waitEstablished(c *conn, crds []map[string]any) error {
	deadline := time.Now().Add(time.Minute)
	for _, crd := range crds {
		meta, _ := crd["metadata"].(map[string]any)
		name := fmt.Sprint(meta["name"])
		for {
			var got struct {
				Status struct {
					Conditions []struct {
						Type   string `json:"type"`
						Status string `json:"status"`
					} `json:"conditions"`
				} `json:"status"`
			}
			if err := c.getJSON(crdPath+"/"+name, &got); err != nil {
				return err
			}
			established := false
			for _, cond := range got.Status.Conditions {
				established = established || (cond.Type == "Established" && cond.Status == "True")
			}
			if established {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("CRD %s not Established after a minute", name)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}

func k8sCount(args []string) error {
	fs := flag.NewFlagSet("k8s-count", flag.ExitOnError)
	cf := addConnFlags(fs)
	group := fs.String("group", "internal.linstor.linbit.com", "API group")
	_ = fs.Parse(args)
	c, err := cf.connect()
	if err != nil {
		return err
	}
	crds, err := listCRDs(c, *group)
	if err != nil {
		return err
	}
	total := int64(0)
	for _, crd := range crds {
		var page listPage
		if err := c.getJSON(fmt.Sprintf("/apis/%s/%s/%s?limit=1", *group, crd.Storage, crd.Plural), &page); err != nil {
			return err
		}
		total += int64(len(page.Items))
		if page.Metadata.RemainingItemCount != nil {
			total += *page.Metadata.RemainingItemCount
		} else if page.Metadata.Continue != "" {
			return fmt.Errorf("%s: no remainingItemCount in a paged list", crd.Name)
		}
	}
	printJSON(map[string]any{"crds": len(crds), "objects": total})
	return nil
}

// ---------------------------------------------------------------------------------------------
// etcd

type keyValue struct{ key, value []byte }

// readEtcdctlJSON reads `etcdctl get --prefix -w json` output (keys and values in base64).
func readEtcdctlJSON(path string) ([]keyValue, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var response struct {
		Kvs []struct {
			Key   string `json:"key"`
			Value string `json:"value"`
		} `json:"kvs"`
	}
	if err := json.Unmarshal(data, &response); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	kvs := make([]keyValue, 0, len(response.Kvs))
	for _, kv := range response.Kvs {
		key, err := base64.StdEncoding.DecodeString(kv.Key)
		if err != nil {
			return nil, err
		}
		value, err := base64.StdEncoding.DecodeString(kv.Value)
		if err != nil {
			return nil, err
		}
		kvs = append(kvs, keyValue{key, value})
	}
	return kvs, nil
}

func chunks(kvs []keyValue, size int) [][]keyValue {
	if size < 1 {
		size = 1
	}
	var out [][]keyValue
	for len(kvs) > size {
		out = append(out, kvs[:size])
		kvs = kvs[size:]
	}
	if len(kvs) > 0 {
		out = append(out, kvs)
	}
	return out
}

func etcdTxn(args []string) error {
	fs := flag.NewFlagSet("etcd-txn", flag.ExitOnError)
	endpoints := fs.String("endpoints", "127.0.0.1:2379", "comma-separated etcd endpoints")
	ops := fs.Int("ops", 128, "puts per transaction")
	concurrency := fs.Int("c", 8, "transactions in flight")
	_ = fs.Parse(args)
	if fs.NArg() != 1 {
		return errors.New("etcd-txn needs the `etcdctl get --prefix -w json` output file")
	}
	kvs, err := readEtcdctlJSON(fs.Arg(0))
	if err != nil {
		return err
	}
	client, err := clientv3.New(clientv3.Config{
		Endpoints:          strings.Split(*endpoints, ","),
		DialTimeout:        10 * time.Second,
		MaxCallSendMsgSize: 64 << 20,
	})
	if err != nil {
		return err
	}
	defer client.Close()
	batches := chunks(kvs, *ops)
	err = forEach(len(batches), *concurrency, func(i int) error {
		puts := make([]clientv3.Op, 0, len(batches[i]))
		for _, kv := range batches[i] {
			puts = append(puts, clientv3.OpPut(string(kv.key), string(kv.value)))
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, err := client.Txn(ctx).Then(puts...).Commit()
		return err
	})
	if err != nil {
		return err
	}
	printJSON(map[string]any{"keys": len(kvs), "transactions": len(batches), "concurrency": *concurrency})
	return nil
}

func etcdctlTxnFiles(args []string) error {
	fs := flag.NewFlagSet("etcdctl-txn-files", flag.ExitOnError)
	ops := fs.Int("ops", 128, "puts per transaction")
	_ = fs.Parse(args)
	if fs.NArg() != 2 {
		return errors.New("etcdctl-txn-files needs the `etcdctl get -w json` output file and a directory")
	}
	kvs, err := readEtcdctlJSON(fs.Arg(0))
	if err != nil {
		return err
	}
	dir := fs.Arg(1)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	batches := chunks(kvs, *ops)
	for i, batch := range batches {
		var b strings.Builder
		b.WriteString("\n") // no compares
		for _, kv := range batch {
			// etcdctl reads each operand as a Go-quoted string (fmt.Sscanf "%q"); "--" keeps values
			// such as "-1" from being read as flags.
			fmt.Fprintf(&b, "put -- %s %s\n", strconv.Quote(string(kv.key)), strconv.Quote(string(kv.value)))
		}
		b.WriteString("\n\n") // end of success ops; no failure ops
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%06d.txn", i)), []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	printJSON(map[string]any{"keys": len(kvs), "transactions": len(batches)})
	return nil
}
