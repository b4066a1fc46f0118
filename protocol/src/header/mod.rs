//! Typed frame headers. Each request header names its code and the header of
//! its successful response through [`Rpc`], so a client call and a server
//! handler cannot disagree on the pairing.

mod broker;
mod controller;
mod group;
mod ha;
mod namesrv;
mod query;
mod runtime;

pub use broker::*;
pub use controller::*;
pub use group::*;
pub use ha::*;
pub use namesrv::*;
pub use query::*;
pub use runtime::*;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::code::RequestCode;
use crate::error::HeaderError;
use crate::limits::MAX_HEADER_LEN;

/// A request header type, its code and its response header type.
pub trait Rpc: Serialize + DeserializeOwned + Send + 'static {
    /// The request code this header goes with.
    const CODE: RequestCode;
    /// The header of a response with a typed header
    /// (see [`crate::ResponseCode::has_typed_header`]).
    type Response: Serialize + DeserializeOwned + Send + 'static;
}

/// Encodes a header.
///
/// # Errors
/// [`HeaderError::TooLarge`] if it would exceed [`MAX_HEADER_LEN`].
pub fn encode_header<T: Serialize>(h: &T) -> Result<Bytes, HeaderError> {
    let v = postcard::to_stdvec(h)?;
    if v.len() > MAX_HEADER_LEN {
        return Err(HeaderError::TooLarge {
            len: v.len(),
            max: MAX_HEADER_LEN,
        });
    }
    Ok(Bytes::from(v))
}

/// Decodes a header, refusing more than [`MAX_HEADER_LEN`] bytes. Trailing
/// bytes are an error, so a header of the wrong type is unlikely to pass.
///
/// # Errors
/// [`HeaderError`] if the bytes are not a `T`.
pub fn decode_header<T: DeserializeOwned>(b: &[u8]) -> Result<T, HeaderError> {
    if b.len() > MAX_HEADER_LEN {
        return Err(HeaderError::TooLarge {
            len: b.len(),
            max: MAX_HEADER_LEN,
        });
    }
    let (v, rest) = postcard::take_from_bytes(b)?;
    if !rest.is_empty() {
        return Err(HeaderError::Malformed(
            postcard::Error::DeserializeBadEncoding,
        ));
    }
    Ok(v)
}

/// Encodes a postcard body (a list too long for a header). Bounded only by
/// the frame limit, which the codec checks when the frame is written.
///
/// # Errors
/// [`HeaderError::Malformed`] if postcard cannot encode `b`.
pub(crate) fn encode_body<T: Serialize>(b: &T) -> Result<Bytes, HeaderError> {
    Ok(Bytes::from(postcard::to_stdvec(b)?))
}

/// Decodes a postcard body; as [`decode_header`], trailing bytes are an
/// error. No size check of its own: the frame limit already bounds it.
///
/// # Errors
/// [`HeaderError::Malformed`] if the bytes are not a `T`.
pub(crate) fn decode_body<T: DeserializeOwned>(b: &[u8]) -> Result<T, HeaderError> {
    let (v, rest) = postcard::take_from_bytes(b)?;
    if !rest.is_empty() {
        return Err(HeaderError::Malformed(
            postcard::Error::DeserializeBadEncoding,
        ));
    }
    Ok(v)
}

/// Header of every error response: a human-readable reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorHeader {
    /// What went wrong, for the user.
    pub message: String,
}

/// A header with no fields.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_header_is_a_typed_error() {
        assert!(decode_header::<PullMessageRequest>(&[0xFF; 40]).is_err());
        assert!(decode_header::<PullMessageRequest>(&[]).is_err());
        assert!(matches!(
            decode_header::<Empty>(&vec![0u8; MAX_HEADER_LEN + 1]),
            Err(HeaderError::TooLarge { .. })
        ));
        assert!(
            decode_header::<Empty>(&[1, 2, 3]).is_err(),
            "trailing bytes are refused"
        );
    }

    #[test]
    fn invalid_name_in_header_is_refused() {
        #[derive(Serialize)]
        struct Raw {
            topic: String,
        }
        let b = encode_header(&Raw {
            topic: "../etc".into(),
        })
        .unwrap();
        assert!(decode_header::<DeleteTopicRequest>(&b).is_err());
    }
}
