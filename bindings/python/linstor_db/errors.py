"""Exceptions: one class per status code of linstor_db.h, all under LinstorDbError."""

from __future__ import annotations


class LinstorDbError(Exception):
    """A failed call. ``code`` is the library's status code, ``message`` what failed and what to do."""

    code = 99

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class NullArgumentError(LinstorDbError):
    code = 1


class InvalidUtf8Error(LinstorDbError):
    code = 2


class InvalidArgumentError(LinstorDbError):
    code = 3


class BusyError(LinstorDbError):
    code = 4


class PanicError(LinstorDbError):
    code = 5


class InternalError(LinstorDbError):
    code = 6


class CancelledError(LinstorDbError):
    code = 7


class ConfigError(LinstorDbError):
    code = 10


class InvalidStoreError(LinstorDbError):
    code = 11


class ConnectError(LinstorDbError):
    code = 12


class ForbiddenError(LinstorDbError):
    code = 13


class StoreRequestError(LinstorDbError):
    code = 14


class FileError(LinstorDbError):
    code = 15


class CorruptDataError(LinstorDbError):
    code = 16


class NotLinstorError(LinstorDbError):
    code = 17


class UnsupportedVersionError(LinstorDbError):
    code = 18


class TargetNotEmptyError(LinstorDbError):
    code = 19


class IncompleteImportError(LinstorDbError):
    code = 20


class WriteInterruptedError(LinstorDbError):
    code = 21


class BackupExistsError(LinstorDbError):
    code = 22


class ControllerRunningError(LinstorDbError):
    code = 23


class ControllerError(LinstorDbError):
    code = 24


class VerifyFailedError(LinstorDbError):
    code = 25


class RefusedError(LinstorDbError):
    code = 26


class ClosedError(LinstorDbError):
    """The Context was closed (Python only)."""

    code = 1000


_BY_CODE = {cls.code: cls for cls in LinstorDbError.__subclasses__() if cls is not ClosedError}


def error_for(code: int, message: str) -> LinstorDbError:
    """The exception for a status code; an unknown code gives a plain LinstorDbError."""
    cls = _BY_CODE.get(code, LinstorDbError)
    return cls(message, code)
