//! Queue allocation within a consumer group: pure functions of (this
//! client's id, every member's id, every queue). Each member computes its
//! own share from the same inputs; the inputs are sorted first, so all
//! members agree and every queue has exactly one owner.

use std::collections::BTreeMap;

use crate::route::MessageQueue;

/// Virtual nodes per member on the consistent-hash ring.
const VIRTUAL_NODES: u32 = 16;

/// How a group shares the queues of a topic among its members.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AllocateStrategy {
    /// Contiguous runs of queues of (nearly) equal length, the first
    /// members taking one more (RocketMQ's `AllocateMessageQueueAveragely`).
    #[default]
    Averagely,
    /// Queue `i` to member `i mod n` (`AllocateMessageQueueAveragelyByCircle`).
    Circle,
    /// A consistent-hash ring with virtual nodes: a member joining or
    /// leaving moves few queues of the others.
    ConsistentHash,
}

impl AllocateStrategy {
    /// The queues of `queues` that member `me` owns when the group is
    /// `members`. Empty if `me` is not a member.
    pub fn allocate(
        self,
        me: &str,
        members: &[String],
        queues: &[MessageQueue],
    ) -> Vec<MessageQueue> {
        let mut members: Vec<&str> = members.iter().map(String::as_str).collect();
        members.sort_unstable();
        members.dedup();
        let mut queues: Vec<&MessageQueue> = queues.iter().collect();
        queues.sort_unstable();
        queues.dedup();
        let Some(index) = members.iter().position(|m| *m == me) else {
            return Vec::new();
        };
        let picked: Vec<&MessageQueue> = match self {
            Self::Averagely => averagely(index, members.len(), &queues),
            Self::Circle => queues
                .iter()
                .enumerate()
                .filter(|(i, _)| i % members.len() == index)
                .map(|(_, q)| *q)
                .collect(),
            Self::ConsistentHash => {
                let ring = ring(&members);
                queues
                    .iter()
                    .filter(|q| owner(&ring, &q.to_string()) == Some(me))
                    .copied()
                    .collect()
            }
        };
        picked.into_iter().cloned().collect()
    }
}

fn averagely<'a>(
    index: usize,
    members: usize,
    queues: &[&'a MessageQueue],
) -> Vec<&'a MessageQueue> {
    let n = queues.len();
    if n == 0 {
        return Vec::new();
    }
    let rem = n % members;
    let size = if n <= members {
        1
    } else if rem > 0 && index < rem {
        n / members + 1
    } else {
        n / members
    };
    let start = if rem > 0 && index < rem {
        index * size
    } else {
        index * size + rem
    };
    let len = size.min(n.saturating_sub(start));
    (0..len).map(|i| queues[(start + i) % n]).collect()
}

fn ring<'a>(members: &[&'a str]) -> BTreeMap<u64, &'a str> {
    let mut ring = BTreeMap::new();
    for m in members {
        for v in 0..VIRTUAL_NODES {
            ring.insert(hash(&format!("{m}-{v}")), *m);
        }
    }
    ring
}

fn owner<'a>(ring: &BTreeMap<u64, &'a str>, key: &str) -> Option<&'a str> {
    let h = hash(key);
    ring.range(h..)
        .next()
        .or_else(|| ring.iter().next())
        .map(|(_, m)| *m)
}

/// FNV-1a with a final mix: stable across processes and versions (unlike
/// std's hasher), and well spread for similar strings.
fn hash(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    // splitmix64 finaliser
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use ferromq_protocol::{BrokerName, QueueId, TopicName};

    use super::*;

    const ALL: [AllocateStrategy; 3] = [
        AllocateStrategy::Averagely,
        AllocateStrategy::Circle,
        AllocateStrategy::ConsistentHash,
    ];

    fn queues(brokers: &[&str], per: u32) -> Vec<MessageQueue> {
        brokers
            .iter()
            .flat_map(|b| {
                (0..per).map(move |q| {
                    MessageQueue::new(
                        TopicName::new("T").unwrap(),
                        BrokerName::new(*b).unwrap(),
                        QueueId::new(q),
                    )
                })
            })
            .collect()
    }

    fn members(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("10.0.0.{i}@100@0")).collect()
    }

    #[test]
    fn every_queue_has_exactly_one_owner() {
        for s in ALL {
            for (brokers, per) in [(&["a"][..], 8), (&["a", "b"][..], 3), (&["a"][..], 1)] {
                let qs = queues(brokers, per);
                for n in 1..=10 {
                    let ms = members(n);
                    let mut owned = Vec::new();
                    for m in &ms {
                        owned.extend(s.allocate(m, &ms, &qs));
                    }
                    let unique: BTreeSet<_> = owned.iter().cloned().collect();
                    assert_eq!(owned.len(), qs.len(), "{s:?} n={n}: a queue owned twice");
                    assert_eq!(unique.len(), qs.len(), "{s:?} n={n}: a queue unowned");
                }
            }
        }
    }

    #[test]
    fn deterministic_whatever_the_input_order() {
        let qs = queues(&["a", "b"], 4);
        let ms = members(3);
        let mut rq = qs.clone();
        rq.reverse();
        let mut rm = ms.clone();
        rm.reverse();
        for s in ALL {
            for m in &ms {
                assert_eq!(s.allocate(m, &ms, &qs), s.allocate(m, &rm, &rq), "{s:?}");
            }
        }
    }

    #[test]
    fn averagely_gives_contiguous_nearly_equal_runs() {
        let qs = queues(&["a"], 8);
        let ms = members(3);
        let sizes: Vec<usize> = ms
            .iter()
            .map(|m| AllocateStrategy::Averagely.allocate(m, &ms, &qs).len())
            .collect();
        assert_eq!(sizes, [3, 3, 2]);
        let first = AllocateStrategy::Averagely.allocate(&ms[0], &ms, &qs);
        let ids: Vec<u32> = first.iter().map(|q| q.queue_id.get()).collect();
        assert_eq!(ids, [0, 1, 2]);
        let circle = AllocateStrategy::Circle.allocate(&ms[1], &ms, &qs);
        let ids: Vec<u32> = circle.iter().map(|q| q.queue_id.get()).collect();
        assert_eq!(ids, [1, 4, 7]);
    }

    #[test]
    fn strangers_and_extra_members_get_nothing() {
        let qs = queues(&["a"], 2);
        let ms = members(4);
        for s in ALL {
            assert!(s.allocate("nobody", &ms, &qs).is_empty());
            let total: usize = ms.iter().map(|m| s.allocate(m, &ms, &qs).len()).sum();
            assert_eq!(total, 2);
            assert!(s.allocate(&ms[0], &ms, &[]).is_empty());
        }
    }

    #[test]
    fn consistent_hash_moves_few_queues_when_a_member_joins() {
        let qs = queues(&["a", "b"], 32);
        let before = members(4);
        let after = members(5);
        let moved = before
            .iter()
            .map(|m| {
                let old: BTreeSet<_> = AllocateStrategy::ConsistentHash
                    .allocate(m, &before, &qs)
                    .into_iter()
                    .collect();
                let new: BTreeSet<_> = AllocateStrategy::ConsistentHash
                    .allocate(m, &after, &qs)
                    .into_iter()
                    .collect();
                assert!(new.is_subset(&old), "queues only move to the new member");
                old.len() - new.len()
            })
            .sum::<usize>();
        assert!(moved < qs.len() / 2, "moved {moved} of {}", qs.len());
    }
}
