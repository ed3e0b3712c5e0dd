//! JSON read strictly: an object that names a key twice is refused, naming the key.
//!
//! `serde_json` keeps the last of duplicate keys, so `{"privileged": true, "privileged": false}`
//! would read as unprivileged here and as privileged by a parser that keeps the first. Every JSON
//! that yungui decides on (requests, admission reviews, OpenStack checks) is read through
//! [`from_str`] or [`check`], so all readers agree on what was sent.

use std::cell::Cell;
use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Reads `text` as JSON; an object with a duplicate key is an error naming the key.
pub fn from_str(text: &str) -> Result<Value, serde_json::Error> {
    from_str_bounded(text, &Bounds::NONE)
}

/// Like [`from_str`], from bytes (which must be UTF-8 JSON).
pub fn from_slice(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let count = Cell::new(0);
    let value = Unique::root(&Bounds::NONE, &count).deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// How large a document [`from_str_bounded`] reads: past a bound it stops at once (a 100,000
/// element array costs no more than one of `max_items`), naming where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Elements of one array.
    pub max_items: usize,
    /// Keys of one object.
    pub max_keys: usize,
    /// Nesting of arrays and objects.
    pub max_depth: usize,
    /// Values in the whole document.
    pub max_values: usize,
    /// Bytes of one string or key.
    pub max_string: usize,
}

impl Bounds {
    /// No bounds (serde_json's own recursion limit still applies).
    pub const NONE: Self = Self {
        max_items: usize::MAX,
        max_keys: usize::MAX,
        max_depth: usize::MAX,
        max_values: usize::MAX,
        max_string: usize::MAX,
    };
}

/// Reads `text` as JSON within `bounds`; a duplicate key or a bound passed is an error naming
/// where, e.g. `` `context.tags` holds more than 256 elements, more than the limit of 256``.
pub fn from_str_bounded(text: &str, bounds: &Bounds) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let count = Cell::new(0);
    let value = Unique::root(bounds, &count).deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// Where a value sits, for messages: built only when one is needed.
#[derive(Clone, Copy)]
enum At<'a> {
    Root,
    Key(&'a At<'a>, &'a str),
    Index(&'a At<'a>, usize),
}

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Root => Ok(()),
            Self::Key(Self::Root, key) => write!(f, "{key}"),
            Self::Key(parent, key) => write!(f, "{parent}.{key}"),
            Self::Index(parent, index) => write!(f, "{parent}[{index}]"),
        }
    }
}

fn past<E: de::Error>(at: &At<'_>, what: fmt::Arguments<'_>, limit: usize) -> E {
    let at = at.to_string();
    let at = if at.is_empty() {
        "the request".to_owned()
    } else {
        format!("`{at}`")
    };
    E::custom(format_args!("{at} {what}, more than the limit of {limit}"))
}

/// Checks that `bytes` are JSON without duplicate keys, without keeping the value.
pub fn check(bytes: &[u8]) -> Result<(), serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    NoDuplicates.deserialize(&mut de)?;
    de.end()
}

/// Builds a [`Value`], refusing duplicate keys and stopping at a bound.
struct Unique<'a> {
    at: At<'a>,
    depth: usize,
    bounds: &'a Bounds,
    count: &'a Cell<usize>,
}

impl<'a> Unique<'a> {
    fn root(bounds: &'a Bounds, count: &'a Cell<usize>) -> Self {
        Self {
            at: At::Root,
            depth: 0,
            bounds,
            count,
        }
    }

    fn inner(&'a self, at: At<'a>) -> Unique<'a> {
        Unique {
            at,
            depth: self.depth + 1,
            bounds: self.bounds,
            count: self.count,
        }
    }

    fn string<E: de::Error>(&self, v: &str) -> Result<(), E> {
        if v.len() > self.bounds.max_string {
            return Err(past(
                &self.at,
                format_args!("is a string of {} bytes", v.len()),
                self.bounds.max_string,
            ));
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Unique<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        let count = self.count.get() + 1;
        self.count.set(count);
        if count > self.bounds.max_values {
            return Err(past(
                &self.at,
                format_args!("brings the document past its number of values"),
                self.bounds.max_values,
            ));
        }
        if self.depth > self.bounds.max_depth {
            return Err(past(
                &self.at,
                format_args!("is nested {} levels deep", self.depth),
                self.bounds.max_depth,
            ));
        }
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Unique<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        self.string(v)?;
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        self.string(&v)?;
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        loop {
            let index = items.len();
            if index >= self.bounds.max_items {
                // One more element is one too many.
                let at = At::Index(&self.at, index);
                if seq.next_element_seed(self.inner(at))?.is_some() {
                    return Err(past(
                        &self.at,
                        format_args!("holds more than {} elements", self.bounds.max_items),
                        self.bounds.max_items,
                    ));
                }
                break;
            }
            let at = At::Index(&self.at, index);
            match seq.next_element_seed(self.inner(at))? {
                Some(item) => items.push(item),
                None => break,
            }
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let at = At::Key(&self.at, &key);
            if out.contains_key(&key) {
                return Err(de::Error::custom(format_args!(
                    "duplicate key `{key}` in an object: give each key once"
                )));
            }
            if out.len() >= self.bounds.max_keys {
                return Err(past(
                    &self.at,
                    format_args!("has more than {} attributes", self.bounds.max_keys),
                    self.bounds.max_keys,
                ));
            }
            if key.len() > self.bounds.max_string {
                return Err(past(
                    &at,
                    format_args!("is a key of {} bytes", key.len()),
                    self.bounds.max_string,
                ));
            }
            let value = map.next_value_seed(self.inner(at))?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

/// Walks a JSON document, refusing duplicate keys, keeping nothing but the keys of the objects
/// being read.
struct NoDuplicates;

impl<'de> DeserializeSeed<'de> for NoDuplicates {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NoDuplicates {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(NoDuplicates)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            map.next_value_seed(NoDuplicates)?;
            if let Some(key) = seen.replace(key) {
                return Err(de::Error::custom(format_args!(
                    "duplicate key `{key}` in an object: give each key once"
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_keys_are_named_at_any_depth() {
        for text in [
            r#"{"privileged": true, "privileged": false}"#,
            r#"{"a": [{"b": {"privileged": 1, "x": 2, "privileged": 3}}]}"#,
        ] {
            let err = from_str(text).unwrap_err().to_string();
            assert!(err.contains("duplicate key `privileged`"), "{err}");
            let err = check(text.as_bytes()).unwrap_err().to_string();
            assert!(err.contains("duplicate key `privileged`"), "{err}");
        }
        // The same key in sibling objects is fine; escapes are compared decoded.
        let value = from_str(r#"{"a": {"k": 1}, "b": {"k": 2}, "n": [1.5, null, "s"]}"#).unwrap();
        assert_eq!(value["b"]["k"], 2);
        assert!(from_str(r#"{"k": 1, "\u006b": 2}"#).is_err());
        assert!(check(br#"{"k": 1} trailing"#).is_err());
    }

    #[test]
    fn bounds_stop_the_read_and_name_where() {
        let bounds = Bounds {
            max_items: 3,
            max_keys: 2,
            max_depth: 4,
            max_values: 20,
            max_string: 8,
        };
        let read = |text: &str| from_str_bounded(text, &bounds).map_err(|e| e.to_string());
        assert!(read(r#"{"a": [1, 2, 3], "b": {"c": "12345678"}}"#).is_ok());
        let err = read(r#"{"context": {"tags": [1, 2, 3, 4]}}"#).unwrap_err();
        assert!(
            err.starts_with("`context.tags` holds more than 3 elements, more than the limit of 3"),
            "{err}"
        );
        assert!(
            read(r#"{"a": 1, "b": 2, "c": 3}"#)
                .unwrap_err()
                .contains("the request has more than 2")
        );
        assert!(
            read(r#"{"a": {"b": "123456789"}}"#)
                .unwrap_err()
                .contains("`a.b` is a string of 9 bytes")
        );
        assert!(
            read(r#"[[[[[1]]]]]"#)
                .unwrap_err()
                .contains("`[0][0][0][0][0]` is nested 5 levels deep")
        );
        assert!(
            read(r#"[[1, 2, 3], [1, 2, 3], [1, 2, 3], [1, 2, 3]]"#)
                .unwrap_err()
                .contains("more than 3 elements")
        );
        let wide = format!("[{}]", ["[1,2,3]"; 3].join(","));
        assert!(read(&wide).is_ok());
        let many = format!("[{}]", ["[[1,2,3],[1,2,3],[1,2]]"; 3].join(","));
        assert!(
            read(&many).unwrap_err().contains("number of values"),
            "{many}"
        );
    }

    #[test]
    fn reads_what_serde_json_reads() {
        let text = r#"{"a": [1, -2, 3.25, true, null, "x\n"], "b": {"c": {}}, "big": 18446744073709551615}"#;
        assert_eq!(
            from_str(text).unwrap(),
            serde_json::from_str::<Value>(text).unwrap()
        );
        assert_eq!(
            from_slice(text.as_bytes()).unwrap(),
            serde_json::from_str::<Value>(text).unwrap()
        );
    }
}
