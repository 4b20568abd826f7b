//! Plumbing between C and Rust values: borrowed input strings, returned strings, panics.

use std::any::Any;
use std::ffi::{c_char, CStr, CString};

use crate::status::FfiError;

/// Borrows a required NUL-terminated UTF-8 argument.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that stays valid and unchanged for `'a`.
pub(crate) unsafe fn required_str<'a>(ptr: *const c_char, name: &'static str) -> Result<&'a str, FfiError> {
    // SAFETY: forwarded from the caller.
    unsafe { optional_str(ptr, name) }?.ok_or(FfiError::NullArgument(name))
}

/// Borrows an optional (NULL allowed) NUL-terminated UTF-8 argument.
///
/// # Safety
/// As [`required_str`].
pub(crate) unsafe fn optional_str<'a>(ptr: *const c_char, name: &'static str) -> Result<Option<&'a str>, FfiError> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: not NULL, and NUL-terminated and alive per the caller's contract.
    let bytes = unsafe { CStr::from_ptr(ptr) };
    bytes.to_str().map(Some).map_err(|source| FfiError::InvalidUtf8 { name, source })
}

/// Moves `text` into a C string the caller frees with `lsdb_string_free`. A NUL inside `text` (never
/// produced by JSON, possible in a file name within a message) becomes U+FFFD so nothing is cut off.
pub(crate) fn into_c_string(text: String) -> *mut c_char {
    let text = if text.contains('\0') { text.replace('\0', "\u{FFFD}") } else { text };
    CString::new(text).map_or(std::ptr::null_mut(), CString::into_raw)
}

/// The message of a caught panic.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "unknown panic".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_in_and_out() {
        let text = CString::new("etcd://127.0.0.1:2379").unwrap();
        assert_eq!(unsafe { required_str(text.as_ptr(), "from") }.unwrap(), "etcd://127.0.0.1:2379");
        assert!(matches!(unsafe { required_str(std::ptr::null(), "from") }, Err(FfiError::NullArgument("from"))));
        assert_eq!(unsafe { optional_str(std::ptr::null(), "from") }.unwrap(), None);
        let invalid = CString::new(vec![b'a', 0xff, b'b']).unwrap();
        assert!(matches!(
            unsafe { required_str(invalid.as_ptr(), "file") },
            Err(FfiError::InvalidUtf8 { name: "file", .. })
        ));
        let out = into_c_string("a\0b".to_owned());
        let back = unsafe { CString::from_raw(out) };
        assert_eq!(back.to_str().unwrap(), "a\u{FFFD}b");
    }
}
