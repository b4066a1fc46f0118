//! Validated names. Topic and group names become directory and file names on
//! the broker, so they are checked here, before anything touches the disk.

use std::borrow::Borrow;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::NameError;

/// Longest topic, group, broker or cluster name, in bytes.
pub const MAX_NAME_LEN: usize = 127;

fn validate(kind: &'static str, s: &str) -> Result<(), NameError> {
    if s.is_empty() {
        return Err(NameError::Empty { kind });
    }
    if s.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong {
            kind,
            len: s.len(),
            max: MAX_NAME_LEN,
        });
    }
    if let Some(ch) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '%' | '_' | '-')))
    {
        return Err(NameError::InvalidChar {
            kind,
            name: s.chars().take(64).collect(),
            ch,
        });
    }
    Ok(())
}

/// Deserializes a name from the input's string through its `FromStr`
/// (validation included), without an intermediate `String`: one
/// allocation, for the shared text.
struct NameVisitor<T>(std::marker::PhantomData<T>);

impl<T: std::str::FromStr<Err = NameError>> serde::de::Visitor<'_> for NameVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a name")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<T, E> {
        v.parse().map_err(E::custom)
    }
}

macro_rules! name_type {
    ($(#[$doc:meta])* $ty:ident, $kind:literal) => {
        $(#[$doc])*
        ///
        /// Shared, immutable text: a clone costs a reference count, not an
        /// allocation.
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $ty(Arc<str>);

        impl $ty {
            /// Validates `name` (`^[%a-zA-Z0-9_-]{1,127}$`).
            ///
            /// # Errors
            /// [`NameError`] says what is wrong with the name.
            pub fn new(name: impl AsRef<str>) -> Result<Self, NameError> {
                let name = name.as_ref();
                validate($kind, name)?;
                Ok(Self(Arc::from(name)))
            }

            /// Checks `name` as [`Self::new`] does, without making one.
            ///
            /// # Errors
            /// [`NameError`] says what is wrong with the name.
            pub fn check(name: &str) -> Result<(), NameError> {
                validate($kind, name)
            }

            /// The name as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $ty {
            type Error = NameError;
            fn try_from(s: String) -> Result<Self, NameError> {
                Self::new(s)
            }
        }

        impl TryFrom<&str> for $ty {
            type Error = NameError;
            fn try_from(s: &str) -> Result<Self, NameError> {
                Self::new(s)
            }
        }

        impl std::str::FromStr for $ty {
            type Err = NameError;
            fn from_str(s: &str) -> Result<Self, NameError> {
                Self::new(s)
            }
        }

        impl Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_str(NameVisitor(std::marker::PhantomData::<$ty>))
            }
        }

        impl From<$ty> for String {
            fn from(n: $ty) -> String {
                n.0.to_string()
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $ty {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }
    };
}

name_type!(
    /// A topic name; retry and dead-letter topics start with `%RETRY%` and `%DLQ%`.
    TopicName,
    "topic"
);
name_type!(
    /// A producer or consumer group name.
    GroupName,
    "group"
);
name_type!(
    /// A broker name, shared by a master and its slaves.
    BrokerName,
    "broker"
);
name_type!(
    /// A cluster name.
    ClusterName,
    "cluster"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_rocketmq_style_names() {
        for ok in [
            "TopicTest",
            "%RETRY%group-1",
            "a",
            "A_b-9",
            &"x".repeat(127),
        ] {
            assert_eq!(
                TopicName::new(ok).map(|t| t.to_string()),
                Ok(ok.to_string())
            );
        }
    }

    #[test]
    fn rejects_paths_empty_and_long_names() {
        assert!(matches!(
            TopicName::new("../x"),
            Err(NameError::InvalidChar { ch: '.', .. })
        ));
        assert!(matches!(
            TopicName::new("a/b"),
            Err(NameError::InvalidChar { ch: '/', .. })
        ));
        assert!(matches!(TopicName::new(""), Err(NameError::Empty { .. })));
        assert!(matches!(
            TopicName::new("x".repeat(200)),
            Err(NameError::TooLong { len: 200, .. })
        ));
        assert!(matches!(
            TopicName::new("é"),
            Err(NameError::InvalidChar { .. })
        ));
        // `check` judges exactly as `new` does.
        for name in [
            "../x",
            "a/b",
            "",
            "é",
            "TopicTest",
            "%RETRY%g",
            "x".repeat(200).as_str(),
        ] {
            assert_eq!(
                TopicName::check(name),
                TopicName::new(name).map(|_| ()),
                "{name:?}"
            );
        }
    }

    #[test]
    fn deserialize_validates() {
        let bytes = postcard::to_stdvec(&"../etc").unwrap_or_default();
        assert!(postcard::from_bytes::<TopicName>(&bytes).is_err());
        let bytes = postcard::to_stdvec(&"ok").unwrap_or_default();
        assert_eq!(
            postcard::from_bytes::<TopicName>(&bytes).ok(),
            TopicName::new("ok").ok()
        );
    }

    #[test]
    fn serializes_as_a_plain_string() {
        let t = TopicName::new("Orders_1").unwrap();
        let as_name = postcard::to_stdvec(&t).unwrap();
        let as_str = postcard::to_stdvec(&"Orders_1").unwrap();
        assert_eq!(as_name, as_str);
        assert_eq!(postcard::from_bytes::<TopicName>(&as_name).unwrap(), t);
        assert_eq!(String::from(t.clone()), "Orders_1");
        let copy = t.clone();
        assert_eq!(
            copy.as_str().as_ptr(),
            t.as_str().as_ptr(),
            "a clone shares the text"
        );
    }
}
