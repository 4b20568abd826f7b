// Package linstordb backs up, restores, migrates and verifies the LINSTOR controller database in etcd,
// in the Kubernetes API (CRDs of internal.linstor.linbit.com) and in export files, through the C ABI
// of linstor-db (liblinstor_db, crate linstor-db-ffi).
//
// Stores are named as on the linstor-db command line: "etcd://HOST:PORT[,HOST:PORT]", "k8s",
// "secret://NAMESPACE/NAME" (backups) or a file path. Every job takes a context.Context; cancelling
// it stops the job at its next batch. Errors are *Error values with a Code and a message.
//
// Building needs liblinstor_db installed where pkg-config finds it (module linstor_db), for example
//
//	scripts/install-ffi.sh --prefix "$HOME/.local"
//	export PKG_CONFIG_PATH="$HOME/.local/lib/pkgconfig"
package linstordb

/*
// pkg-config rather than paths into the repository: a module fetched with `go get` holds only
// bindings/go, so the header and the library come from an install (scripts/install-ffi.sh).
#cgo pkg-config: linstor_db
#include <stdint.h>
#include <stdlib.h>
#include "linstor_db.h"

extern void linstordbProgress(void *user_data, char *progress_json);

// Registers the Go progress trampoline with a cgo.Handle as user_data (0 removes it); converting the
// handle to a pointer here keeps Go from seeing an integer turned into unsafe.Pointer.
static lsdb_status linstordb_set_progress(lsdb_context *ctx, uintptr_t handle) {
	if (handle == 0) {
		return lsdb_context_set_progress(ctx, NULL, NULL);
	}
	return lsdb_context_set_progress(ctx, (lsdb_progress_callback)linstordbProgress, (void *)handle);
}
*/
import "C"

import (
	"context"
	"encoding/json"
	"runtime"
	"runtime/cgo"
	"sync"
	"time"
	"unsafe"
)

// Version is the version of the linked library.
func Version() string { return C.GoString(C.lsdb_version()) }

// Config says how to reach stores. The zero value reads /etc/linstor/linstor.toml when a job needs it
// and infers the Kubernetes configuration ($KUBECONFIG, ~/.kube/config, in-cluster).
type Config struct {
	// ConfigDir is the directory holding linstor.toml (etcd TLS, credentials, prefix; the store when
	// a job's address is empty). When set, linstor.toml must exist there.
	ConfigDir string
	// Kubeconfig is the kubeconfig file for "k8s" stores.
	Kubeconfig string
	// KubeContext is the kubeconfig context for "k8s" stores.
	KubeContext string
	// RetryTimeout is how long a job keeps retrying a store that fails with transient errors (an
	// etcd member down, a leader election, an API server that does not answer) without any request
	// succeeding; zero means the library's default (3 minutes). Whole seconds; a positive value
	// below one second counts as one.
	RetryTimeout time.Duration
}

// Context holds the library's context handle. Its methods are safe for concurrent use; jobs on one
// Context run one after the other, so use one Context per job that should run in parallel. Close it
// when done (a finalizer frees it otherwise).
type Context struct {
	mu  sync.Mutex // serialises calls and guards ptr
	ptr *C.lsdb_context
}

// New creates a Context with the given settings.
func New(cfg Config) (*Context, error) {
	ptr := C.lsdb_context_new()
	if ptr == nil {
		return nil, &Error{Code: CodeInternal, Message: "cannot create a linstor-db context (out of file descriptors or memory)"}
	}
	c := &Context{ptr: ptr}
	runtime.SetFinalizer(c, (*Context).Close)
	set := func(value string, setter func(*C.lsdb_context, *C.char) C.lsdb_status) error {
		if value == "" {
			return nil
		}
		text := C.CString(value)
		defer C.free(unsafe.Pointer(text))
		return c.check(setter(c.ptr, text), nil)
	}
	for _, err := range []error{
		set(cfg.ConfigDir, func(p *C.lsdb_context, s *C.char) C.lsdb_status { return C.lsdb_context_set_config_dir(p, s) }),
		set(cfg.Kubeconfig, func(p *C.lsdb_context, s *C.char) C.lsdb_status { return C.lsdb_context_set_kubeconfig(p, s) }),
		set(cfg.KubeContext, func(p *C.lsdb_context, s *C.char) C.lsdb_status { return C.lsdb_context_set_kube_context(p, s) }),
	} {
		if err != nil {
			c.Close()
			return nil, err
		}
	}
	if cfg.RetryTimeout > 0 {
		seconds := uint64((cfg.RetryTimeout + time.Second - 1) / time.Second)
		if err := c.check(C.lsdb_context_set_retry_timeout(c.ptr, C.uint64_t(seconds)), nil); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// Close frees the library context; it waits for a running job. Calling it again does nothing.
func (c *Context) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ptr != nil {
		C.lsdb_context_free(c.ptr)
		c.ptr = nil
		runtime.SetFinalizer(c, nil)
	}
	return nil
}

// check turns a status into an error with the context's message; ctxErr is the error of the job's
// context.Context, attached when the job was cancelled.
func (c *Context) check(status C.lsdb_status, ctxErr error) error {
	if status == C.LSDB_STATUS_OK {
		return nil
	}
	e := &Error{Code: Code(status)}
	if message := C.lsdb_context_last_error(c.ptr); message != nil {
		e.Message = C.GoString(message)
		C.lsdb_string_free(message)
	}
	if e.Code == CodeCancelled {
		e.cause = ctxErr
	}
	return e
}

// cString is C.CString, with "" as NULL (the library's "not given").
func cString(s string) *C.char {
	if s == "" {
		return nil
	}
	return C.CString(s)
}

// cStrings converts several strings and returns one function that frees them all.
func cStrings(values ...string) ([]*C.char, func()) {
	out := make([]*C.char, len(values))
	for i, v := range values {
		out[i] = cString(v)
	}
	return out, func() {
		for _, p := range out {
			if p != nil {
				C.free(unsafe.Pointer(p))
			}
		}
	}
}

// run runs one job call: it wires ctx to lsdb_context_cancel and opts.Progress to the progress
// callback, and decodes the report into report.
func (c *Context) run(ctx context.Context, opts *JobOptions, report any,
	call func(ptr *C.lsdb_context, options *C.char, out **C.char) C.lsdb_status) error {
	if opts == nil {
		opts = &JobOptions{}
	}
	optionsJSON, err := json.Marshal(opts)
	if err != nil {
		return &Error{Code: CodeInvalidArgument, Message: "options: " + err.Error()}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ptr == nil {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return &Error{Code: CodeCancelled, Message: "cancelled before the job started", cause: err}
	}
	// The library's cancel flag is sticky; clear the previous job's before watching this one.
	C.lsdb_context_reset_cancel(c.ptr)
	if opts.Progress != nil {
		handle := cgo.NewHandle(opts.Progress)
		C.linstordb_set_progress(c.ptr, C.uintptr_t(handle))
		defer func() {
			C.linstordb_set_progress(c.ptr, 0)
			handle.Delete()
		}()
	}
	stop := make(chan struct{})
	watcherDone := make(chan struct{})
	go func() {
		defer close(watcherDone)
		select {
		case <-ctx.Done():
			C.lsdb_context_cancel(c.ptr)
		case <-stop:
		}
	}()
	options := C.CString(string(optionsJSON))
	defer C.free(unsafe.Pointer(options))
	var out *C.char
	status := call(c.ptr, options, &out)
	close(stop)
	<-watcherDone // no cancel of this job may reach the next one
	if err := c.check(status, ctx.Err()); err != nil {
		return err
	}
	defer C.lsdb_string_free(out)
	if err := json.Unmarshal([]byte(C.GoString(out)), report); err != nil {
		return &Error{Code: CodeInternal, Message: "cannot decode the report: " + err.Error()}
	}
	return nil
}
