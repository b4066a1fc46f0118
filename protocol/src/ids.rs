//! Numeric newtypes and the offset message id.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

macro_rules! num_type {
    ($(#[$doc:meta])* $ty:ident, $inner:ty) => {
        $(#[$doc])*
        #[derive(
            Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $ty($inner);

        impl $ty {
            /// Wraps a raw value.
            pub const fn new(v: $inner) -> Self {
                Self(v)
            }
            /// The raw value.
            pub const fn get(self) -> $inner {
                self.0
            }
        }

        impl From<$inner> for $ty {
            fn from(v: $inner) -> Self {
                Self(v)
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }
    };
}

num_type!(
    /// Index of a queue within a topic on one broker.
    QueueId,
    u32
);
num_type!(
    /// Logical position of a message within its consume queue (0, 1, 2, ...).
    QueueOffset,
    u64
);
num_type!(
    /// Byte position of a record in a broker's commit log.
    CommitLogOffset,
    u64
);

/// An offset message id: the store host and the commit-log offset of the
/// record. It is decodable without any index, as in RocketMQ: 32 hex digits
/// for an IPv4 store host (4 bytes address, 4 bytes port, 8 bytes offset),
/// 56 for IPv6 (16 + 4 + 8).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct MessageId {
    store_host: SocketAddr,
    offset: CommitLogOffset,
}

impl MessageId {
    /// Builds the id of the record at `offset` on the broker `store_host`.
    pub fn new(store_host: SocketAddr, offset: CommitLogOffset) -> Self {
        Self { store_host, offset }
    }
    /// The broker address that stored the record.
    pub fn store_host(&self) -> SocketAddr {
        self.store_host
    }
    /// The record's commit-log offset.
    pub fn offset(&self) -> CommitLogOffset {
        self.offset
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.store_host.ip() {
            IpAddr::V4(ip) => {
                for b in ip.octets() {
                    write!(f, "{b:02X}")?;
                }
            }
            IpAddr::V6(ip) => {
                for b in ip.octets() {
                    write!(f, "{b:02X}")?;
                }
            }
        }
        write!(
            f,
            "{:08X}{:016X}",
            u32::from(self.store_host.port()),
            self.offset.get()
        )
    }
}

/// A string that is not an offset message id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid message id {0:?}: expected 32 or 56 hex digits")]
pub struct MessageIdError(String);

impl FromStr for MessageId {
    type Err = MessageIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || MessageIdError(s.chars().take(80).collect());
        if !s.is_ascii() || !(s.len() == 32 || s.len() == 56) {
            return Err(err());
        }
        let mut bytes = Vec::with_capacity(s.len() / 2);
        for i in (0..s.len()).step_by(2) {
            bytes.push(u8::from_str_radix(&s[i..i + 2], 16).map_err(|_| err())?);
        }
        let (ip, rest) = if bytes.len() == 16 {
            let (a, rest) = bytes.split_at(4);
            let a: [u8; 4] = a.try_into().map_err(|_| err())?;
            (IpAddr::V4(Ipv4Addr::from(a)), rest)
        } else {
            let (a, rest) = bytes.split_at(16);
            let a: [u8; 16] = a.try_into().map_err(|_| err())?;
            (IpAddr::V6(Ipv6Addr::from(a)), rest)
        };
        let port: [u8; 4] = rest[..4].try_into().map_err(|_| err())?;
        let port = u16::try_from(u32::from_be_bytes(port)).map_err(|_| err())?;
        let off: [u8; 8] = rest[4..12].try_into().map_err(|_| err())?;
        Ok(Self::new(
            SocketAddr::new(ip, port),
            CommitLogOffset::new(u64::from_be_bytes(off)),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ipv4_id_is_rocketmq_shaped() {
        let id = MessageId::new(
            "127.0.0.1:10911".parse().unwrap(),
            CommitLogOffset::new(0x1234),
        );
        let s = id.to_string();
        assert_eq!(s, "7F00000100002A9F0000000000001234");
        assert_eq!(s.parse::<MessageId>().unwrap(), id);
    }

    #[test]
    fn rejects_garbage() {
        assert!("xyz".parse::<MessageId>().is_err());
        assert!("ZZ00000100002A9F0000000000001234"
            .parse::<MessageId>()
            .is_err());
        assert!("7F000001FFFFFFFF0000000000001234"
            .parse::<MessageId>()
            .is_err());
    }

    proptest! {
        #[test]
        fn round_trips(v6 in any::<bool>(), a in any::<[u8; 16]>(), port in any::<u16>(), off in any::<u64>()) {
            let ip = if v6 { IpAddr::V6(Ipv6Addr::from(a)) } else { IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3])) };
            let id = MessageId::new(SocketAddr::new(ip, port), CommitLogOffset::new(off));
            prop_assert_eq!(id.to_string().parse::<MessageId>().unwrap(), id);
        }
    }
}
