package linstordb

/*
#include "linstor_db.h"
*/
import "C"

import (
	"encoding/json"
	"runtime/cgo"
	"unsafe"
)

// Progress of a running job: Kind "table" when a table starts (Table, Index from 0, Total), Kind
// "rows" with the rows copied so far in all tables (Rows), Kind "step" when a job of several steps
// (backup, restore, migrate, purge) starts one (Step; table and row counts start again per copy).
type Progress struct {
	Kind  string `json:"kind"`
	Step  string `json:"step,omitempty"`
	Table string `json:"table,omitempty"`
	Index int    `json:"index,omitempty"`
	Total int    `json:"total,omitempty"`
	Rows  uint64 `json:"rows,omitempty"`
}

// linstordbProgress is the lsdb_progress_callback; userData carries the cgo.Handle of the job's
// progress function. It runs on the thread of the job call, inside that call.
//
//export linstordbProgress
func linstordbProgress(userData unsafe.Pointer, progressJSON *C.char) {
	fn, ok := cgo.Handle(uintptr(userData)).Value().(func(Progress))
	if !ok {
		return
	}
	var p Progress
	if json.Unmarshal([]byte(C.GoString(progressJSON)), &p) == nil {
		fn(p)
	}
}
