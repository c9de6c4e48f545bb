//! JSON text of the library's own types, whose serialisation cannot fail.
//!
//! serde_json fails to serialise only a map whose keys are not strings, or a value
//! whose `Serialize` returns an error. A type that has neither says so by
//! implementing [`PlainJson`] (with a comment on why it qualifies), and its JSON is
//! then a plain `String`, with no error for the caller to handle or to swallow.

use serde::Serialize;
use serde_json::Value;

/// A type whose JSON serialisation cannot fail: only strings, numbers, booleans,
/// `serde_json::Value`, and options, vectors, maps with string keys and structs of
/// these, with no `Serialize` impl that returns an error.
pub(crate) trait PlainJson: Serialize {}

// A `Value`'s maps have string keys and its numbers are finite.
impl PlainJson for Value {}

const CANNOT_FAIL: &str = "a PlainJson type serialises without error";

/// Compact JSON of `value`.
pub(crate) fn to_string<T: PlainJson>(value: &T) -> String {
    serde_json::to_string(value).expect(CANNOT_FAIL)
}

/// `value` as a JSON value.
pub(crate) fn to_value<T: PlainJson>(value: &T) -> Value {
    serde_json::to_value(value).expect(CANNOT_FAIL)
}

/// The length of the compact JSON of `value`, in bytes, without keeping the text.
pub(crate) fn compact_len<T: PlainJson>(value: &T) -> usize {
    let mut counter = ByteCounter(0);
    // The counter never fails a write, and a PlainJson value serialises.
    serde_json::to_writer(&mut counter, value).expect(CANNOT_FAIL);
    counter.0
}

/// Counts serialized bytes without keeping them.
struct ByteCounter(usize);

impl std::io::Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_length_is_the_text_length() {
        let v = serde_json::json!({"a": [1, 2.5, null], "é": "x\"y"});
        assert_eq!(compact_len(&v), to_string(&v).len());
        assert_eq!(to_value(&v), v);
    }
}
