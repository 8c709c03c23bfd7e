//! Deserializes a typed value from a merged tree and reports the key path of the first error.

use crate::key_path::{KeyPath, Segment};
use serde::de::{self, DeserializeOwned, DeserializeSeed, Visitor};
use serde_json::Value;
use std::fmt;

#[derive(Debug)]
pub(crate) struct DeError {
    path: Option<KeyPath>,
    msg: String,
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self {
            path: None,
            msg: msg.to_string(),
        }
    }
}

impl DeError {
    fn at(mut self, path: &PathNode<'_>) -> Self {
        if self.path.is_none() {
            self.path = Some(path.to_key_path());
        }
        self
    }
}

/// A path as a linked list on the stack.
enum PathNode<'p> {
    Root,
    Key(&'p PathNode<'p>, &'p str),
    Index(&'p PathNode<'p>, usize),
}

impl PathNode<'_> {
    fn to_key_path(&self) -> KeyPath {
        let mut segs = Vec::new();
        let mut cur = self;
        loop {
            match cur {
                PathNode::Root => break,
                PathNode::Key(p, k) => {
                    segs.push(Segment::Key((*k).to_owned()));
                    cur = p;
                }
                PathNode::Index(p, i) => {
                    segs.push(Segment::Index(*i));
                    cur = p;
                }
            }
        }
        let mut out = KeyPath::root();
        for s in segs.into_iter().rev() {
            out.push(s);
        }
        out
    }
}

/// Deserializes `T` from `value`; on error, the key path where it happened and the message.
pub(crate) fn from_value<T: DeserializeOwned>(value: &Value) -> Result<T, (KeyPath, String)> {
    let root = PathNode::Root;
    T::deserialize(De { value, path: &root }).map_err(|e| (e.path.unwrap_or_default(), e.msg))
}

struct De<'de, 'p> {
    value: &'de Value,
    path: &'p PathNode<'p>,
}

fn json_err(e: serde_json::Error) -> DeError {
    DeError {
        path: None,
        msg: e.to_string(),
    }
}

impl<'de> de::Deserializer<'de> for De<'de, '_> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let r = match self.value {
            Value::Object(m) => visitor.visit_map(MapAcc {
                iter: m.iter(),
                pending: None,
                path: self.path,
            }),
            Value::Array(a) => visitor.visit_seq(SeqAcc {
                iter: a.iter().enumerate(),
                path: self.path,
            }),
            other => de::Deserializer::deserialize_any(other, visitor).map_err(json_err),
        };
        r.map_err(|e| e.at(self.path))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.value {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_enum(self.value, name, variants, visitor)
            .map_err(json_err)
            .map_err(|e| e.at(self.path))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

struct MapAcc<'de, 'p> {
    iter: serde_json::map::Iter<'de>,
    pending: Option<(&'de str, &'de Value)>,
    path: &'p PathNode<'p>,
}

impl<'de> de::MapAccess<'de> for MapAcc<'de, '_> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        let Some((k, v)) = self.iter.next() else {
            return Ok(None);
        };
        self.pending = Some((k.as_str(), v));
        let kd = de::value::BorrowedStrDeserializer::<'de, DeError>::new(k.as_str());
        seed.deserialize(kd).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let Some((k, v)) = self.pending.take() else {
            return Err(de::Error::custom("value requested before key"));
        };
        let node = PathNode::Key(self.path, k);
        seed.deserialize(De {
            value: v,
            path: &node,
        })
        .map_err(|e| e.at(&node))
    }
}

struct SeqAcc<'de, 'p> {
    iter: std::iter::Enumerate<std::slice::Iter<'de, Value>>,
    path: &'p PathNode<'p>,
}

impl<'de> de::SeqAccess<'de> for SeqAcc<'de, '_> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        let Some((i, v)) = self.iter.next() else {
            return Ok(None);
        };
        let node = PathNode::Index(self.path, i);
        seed.deserialize(De {
            value: v,
            path: &node,
        })
        .map(Some)
        .map_err(|e| e.at(&node))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;
    use std::collections::BTreeMap;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        n: u32,
        #[serde(default)]
        tags: Vec<String>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Outer {
        #[serde(default)]
        items: BTreeMap<String, Inner>,
        mode: Option<Mode>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    enum Mode {
        Always,
        Never,
    }

    #[test]
    fn errors_carry_the_key_path() {
        let v = json!({"items": {"a.b": {"n": 1}, "c": {"n": "x"}}});
        let (p, msg) = from_value::<Outer>(&v).unwrap_err();
        assert_eq!(p.to_string(), "items.c.n");
        assert!(msg.contains("invalid type"), "{msg}");

        let v = json!({"items": {"c": {"n": 1, "tags": ["a", 3]}}});
        let (p, _) = from_value::<Outer>(&v).unwrap_err();
        assert_eq!(p.to_string(), "items.c.tags[1]");

        let v = json!({"items": {"c": {"tags": []}}});
        let (p, msg) = from_value::<Outer>(&v).unwrap_err();
        assert_eq!(p.to_string(), "items.c");
        assert!(msg.contains("missing field `n`"), "{msg}");

        let v = json!({"mode": "Sometimes"});
        let (p, _) = from_value::<Outer>(&v).unwrap_err();
        assert_eq!(p.to_string(), "mode");
    }

    #[test]
    fn valid_values_deserialize() {
        let v = json!({"items": {"a": {"n": 1, "tags": ["x"]}}, "mode": "Always"});
        let o: Outer = from_value(&v).unwrap();
        assert_eq!(o.items["a"].tags, vec!["x".to_owned()]);
        assert_eq!(o.mode, Some(Mode::Always));
        assert!(from_value::<Outer>(&json!({})).unwrap().items.is_empty());
    }
}
