//! Headers of message lookups served by brokers: by key or unique id
//! (through the broker's index), by commit-log offset (an offset message
//! id, no index needed), and a queue offset by store time.
//!
//! Records found travel in the response body, back to back and unchanged
//! as stored, exactly like a pull's (decode them with
//! [`crate::record::decode_all`]).

use serde::{Deserialize, Serialize};

use super::{Empty, OffsetResponse, Rpc};
use crate::code::RequestCode;
use crate::error::QueryError;
use crate::ids::{CommitLogOffset, QueueId};
use crate::names::TopicName;

/// Most messages one key query returns per broker (RocketMQ's
/// `maxMsgsNumBatch`); brokers clamp larger requests to it.
pub const MAX_QUERY_MESSAGES: u32 = 64;

/// What a [`QueryMessageRequest`] looks for. RocketMQ uses one request code
/// with a "unique key" flag for both; an enum keeps the two shapes apart.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum QueryBy {
    /// Messages whose keys include `key`, stored between `begin_ms` and
    /// `end_ms` (ms since the epoch, both inclusive), newest first, at most
    /// `max` (clamped to [`MAX_QUERY_MESSAGES`]).
    Key {
        /// One key, as set by the producer (no spaces).
        key: String,
        /// At most this many messages.
        max: u32,
        /// Earliest store time.
        begin_ms: u64,
        /// Latest store time.
        end_ms: u64,
    },
    /// The message with this producer-assigned unique id (`UNIQ_KEY`).
    UniqueId(String),
}

impl QueryBy {
    /// Checks what both the client and the broker require: a non-empty key
    /// without spaces (keys are stored space-separated, so a key with a
    /// space can never match), a non-empty unique id, and a time range
    /// that is not reversed.
    ///
    /// # Errors
    /// [`QueryError`] saying what is wrong; its message is for the user.
    pub fn check(&self) -> Result<(), QueryError> {
        match self {
            Self::Key {
                key,
                begin_ms,
                end_ms,
                ..
            } => {
                if key.is_empty() || key.contains(' ') {
                    return Err(QueryError::InvalidKey(key.clone()));
                }
                if begin_ms > end_ms {
                    return Err(QueryError::ReversedTimeRange {
                        begin_ms: *begin_ms,
                        end_ms: *end_ms,
                    });
                }
                Ok(())
            }
            Self::UniqueId(id) if id.is_empty() => Err(QueryError::EmptyUniqueId),
            Self::UniqueId(_) => Ok(()),
        }
    }
}

/// Messages of `topic` on this broker by key or unique id.
///
/// Answer: `Success` with the records found in the body (none is an empty
/// body, not an error), newest first; `TopicNotExist` for a topic the
/// broker does not have; `BadRequest` for a query failing
/// [`QueryBy::check`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryMessageRequest {
    /// Topic the messages belong to.
    pub topic: TopicName,
    /// What to look for.
    pub by: QueryBy,
}

/// Reply to [`QueryMessageRequest`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryMessageResponse {
    /// The broker found more matches than fit in one response (the body is
    /// capped in bytes); the newest ones are returned.
    pub truncated: bool,
}

impl Rpc for QueryMessageRequest {
    const CODE: RequestCode = RequestCode::QueryMessage;
    type Response = QueryMessageResponse;
}

/// The record at a commit-log offset of this broker: the lookup behind an
/// offset message id.
///
/// Answer: `Success` with the one record in the body, or `QueryNotFound`
/// (an error with a message) when no record starts at that offset (outside
/// the log, deleted by retention, or not a record boundary).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewMessageByIdRequest {
    /// Commit-log offset from the message id.
    pub offset: CommitLogOffset,
}

impl Rpc for ViewMessageByIdRequest {
    const CODE: RequestCode = RequestCode::ViewMessageById;
    type Response = Empty;
}

/// The queue offset of the first message of a queue stored at or after
/// `timestamp_ms`, by binary search over the queue.
///
/// Answer: [`OffsetResponse`]; a time after the newest message gives the
/// queue's max offset, a time before the oldest its min offset.
/// `TopicNotExist` for a topic the broker does not have.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchOffsetRequest {
    /// Topic.
    pub topic: TopicName,
    /// Queue.
    pub queue_id: QueueId,
    /// Store time to look for, ms since the epoch.
    pub timestamp_ms: u64,
}

impl Rpc for SearchOffsetRequest {
    const CODE: RequestCode = RequestCode::SearchOffsetByTimestamp;
    type Response = OffsetResponse;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::{decode_header, encode_header};
    use crate::QueueOffset;

    fn topic() -> TopicName {
        TopicName::new("Orders").unwrap()
    }

    fn round_trip<T>(v: &T)
    where
        T: Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
    {
        let b = encode_header(v).unwrap();
        assert_eq!(&decode_header::<T>(&b).unwrap(), v);
    }

    #[test]
    fn headers_round_trip() {
        round_trip(&QueryMessageRequest {
            topic: topic(),
            by: QueryBy::Key {
                key: "order-1".into(),
                max: 32,
                begin_ms: 0,
                end_ms: u64::MAX,
            },
        });
        round_trip(&QueryMessageRequest {
            topic: topic(),
            by: QueryBy::UniqueId("0A0102030405060708090A0B0C0D0E0F".into()),
        });
        round_trip(&QueryMessageResponse { truncated: true });
        round_trip(&ViewMessageByIdRequest {
            offset: CommitLogOffset::new(u64::MAX),
        });
        round_trip(&SearchOffsetRequest {
            topic: topic(),
            queue_id: QueueId::new(3),
            timestamp_ms: 1_700_000_000_000,
        });
        round_trip(&OffsetResponse {
            offset: QueueOffset::new(42),
        });
    }

    #[test]
    fn codes_pair_with_rocketmq_numbers() {
        assert_eq!(QueryMessageRequest::CODE.as_u16(), 12);
        assert_eq!(SearchOffsetRequest::CODE.as_u16(), 29);
        assert_eq!(ViewMessageByIdRequest::CODE.as_u16(), 33);
    }

    #[test]
    fn garbage_and_bad_topics_are_refused() {
        assert!(decode_header::<QueryMessageRequest>(&[0xFF; 16]).is_err());
        assert!(decode_header::<SearchOffsetRequest>(&[]).is_err());
        #[derive(Serialize)]
        struct Raw {
            topic: String,
            by: QueryBy,
        }
        let b = encode_header(&Raw {
            topic: "../x".into(),
            by: QueryBy::UniqueId("x".into()),
        })
        .unwrap();
        assert!(decode_header::<QueryMessageRequest>(&b).is_err());
    }

    #[test]
    fn queries_are_checked() {
        let key = |k: &str, b, e| QueryBy::Key {
            key: k.into(),
            max: 1,
            begin_ms: b,
            end_ms: e,
        };
        assert!(key("k", 0, 10).check().is_ok());
        assert!(key("k", 5, 5).check().is_ok());
        assert!(key("", 0, 10).check().is_err());
        assert!(key("a b", 0, 10).check().is_err());
        assert!(key("k", 11, 10).check().is_err());
        assert!(QueryBy::UniqueId(String::new()).check().is_err());
        assert!(QueryBy::UniqueId("X".into()).check().is_ok());
    }

    #[test]
    fn query_errors_are_typed_and_read_as_before() {
        let key = |k: &str, b, e| QueryBy::Key {
            key: k.into(),
            max: 1,
            begin_ms: b,
            end_ms: e,
        };
        let err = key("a b", 0, 10).check().unwrap_err();
        assert_eq!(err, QueryError::InvalidKey("a b".into()));
        assert_eq!(
            err.to_string(),
            "invalid key \"a b\": a key is non-empty and has no spaces"
        );
        let err = key("k", 11, 10).check().unwrap_err();
        assert_eq!(err.to_string(), "begin time 11 is after end time 10");
        let err = QueryBy::UniqueId(String::new()).check().unwrap_err();
        assert_eq!(err, QueryError::EmptyUniqueId);
        assert_eq!(err.to_string(), "the unique id is empty");
    }
}
