package linstordb

/*
#include "linstor_db.h"
*/
import "C"

// Code is the status code of a failed call (lsdb_status in linstor_db.h).
type Code uint32

// The codes of linstor_db.h. New codes may be added; treat an unknown one like CodeError.
const (
	CodeNullArgument       Code = C.LSDB_STATUS_NULL_ARGUMENT
	CodeInvalidUTF8        Code = C.LSDB_STATUS_INVALID_UTF8
	CodeInvalidArgument    Code = C.LSDB_STATUS_INVALID_ARGUMENT
	CodeBusy               Code = C.LSDB_STATUS_BUSY
	CodePanic              Code = C.LSDB_STATUS_PANIC
	CodeInternal           Code = C.LSDB_STATUS_INTERNAL
	CodeCancelled          Code = C.LSDB_STATUS_CANCELLED
	CodeConfig             Code = C.LSDB_STATUS_CONFIG
	CodeInvalidStore       Code = C.LSDB_STATUS_INVALID_STORE
	CodeConnect            Code = C.LSDB_STATUS_CONNECT
	CodeForbidden          Code = C.LSDB_STATUS_FORBIDDEN
	CodeStoreRequest       Code = C.LSDB_STATUS_STORE_REQUEST
	CodeFile               Code = C.LSDB_STATUS_FILE
	CodeCorruptData        Code = C.LSDB_STATUS_CORRUPT_DATA
	CodeNotLinstor         Code = C.LSDB_STATUS_NOT_LINSTOR
	CodeUnsupportedVersion Code = C.LSDB_STATUS_UNSUPPORTED_VERSION
	CodeTargetNotEmpty     Code = C.LSDB_STATUS_TARGET_NOT_EMPTY
	CodeIncompleteImport   Code = C.LSDB_STATUS_INCOMPLETE_IMPORT
	CodeWriteInterrupted   Code = C.LSDB_STATUS_WRITE_INTERRUPTED
	CodeBackupExists       Code = C.LSDB_STATUS_BACKUP_EXISTS
	CodeControllerRunning  Code = C.LSDB_STATUS_CONTROLLER_RUNNING
	CodeController         Code = C.LSDB_STATUS_CONTROLLER
	CodeVerifyFailed       Code = C.LSDB_STATUS_VERIFY_FAILED
	CodeRefused            Code = C.LSDB_STATUS_REFUSED
	CodeError              Code = C.LSDB_STATUS_ERROR
	// CodeClosed is Go-only: the Context was closed.
	CodeClosed Code = 1000
)

// String is a sentence describing the code, from the library.
func (c Code) String() string {
	if c == CodeClosed {
		return "the context is closed"
	}
	return C.GoString(C.lsdb_status_describe(C.uint32_t(c)))
}

// Error is the error of every failed call: the library's status code and its message, which says what
// failed and what to do.
//
// Compare with errors.Is against the sentinels (ErrTargetNotEmpty, ...), which match by code. An
// error caused by the cancellation of a context.Context also matches context.Canceled or
// context.DeadlineExceeded.
type Error struct {
	Code    Code
	Message string
	cause   error
}

func (e *Error) Error() string {
	if e.Message == "" {
		return "linstor-db: " + e.Code.String()
	}
	return "linstor-db: " + e.Message
}

// Is reports whether target is an *Error with the same code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Unwrap returns the context error that cancelled the job, if any.
func (e *Error) Unwrap() error { return e.cause }

// Sentinels for errors.Is, one per code.
var (
	ErrNullArgument       = &Error{Code: CodeNullArgument}
	ErrInvalidUTF8        = &Error{Code: CodeInvalidUTF8}
	ErrInvalidArgument    = &Error{Code: CodeInvalidArgument}
	ErrBusy               = &Error{Code: CodeBusy}
	ErrPanic              = &Error{Code: CodePanic}
	ErrInternal           = &Error{Code: CodeInternal}
	ErrCancelled          = &Error{Code: CodeCancelled}
	ErrConfig             = &Error{Code: CodeConfig}
	ErrInvalidStore       = &Error{Code: CodeInvalidStore}
	ErrConnect            = &Error{Code: CodeConnect}
	ErrForbidden          = &Error{Code: CodeForbidden}
	ErrStoreRequest       = &Error{Code: CodeStoreRequest}
	ErrFile               = &Error{Code: CodeFile}
	ErrCorruptData        = &Error{Code: CodeCorruptData}
	ErrNotLinstor         = &Error{Code: CodeNotLinstor}
	ErrUnsupportedVersion = &Error{Code: CodeUnsupportedVersion}
	ErrTargetNotEmpty     = &Error{Code: CodeTargetNotEmpty}
	ErrIncompleteImport   = &Error{Code: CodeIncompleteImport}
	ErrWriteInterrupted   = &Error{Code: CodeWriteInterrupted}
	ErrBackupExists       = &Error{Code: CodeBackupExists}
	ErrControllerRunning  = &Error{Code: CodeControllerRunning}
	ErrController         = &Error{Code: CodeController}
	ErrVerifyFailed       = &Error{Code: CodeVerifyFailed}
	ErrRefused            = &Error{Code: CodeRefused}
	ErrOther              = &Error{Code: CodeError}
	ErrClosed             = &Error{Code: CodeClosed}
)
