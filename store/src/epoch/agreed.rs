//! Where a slave's log and its master's part: Kafka's
//! OffsetsForLeaderEpoch rule.
//!
//! Take the slave's last epoch E. The master ended E where its next epoch
//! began (at its own end if E is its current epoch); the slave ended E at
//! its own end. Both logs hold the same records up to the smaller of the
//! two: everything in E came from E's one master, in the same order. If
//! the master never had E (the slave took it from a master whose records
//! this master never saw), nothing of E is shared: step back to the
//! slave's previous epoch, which the slave ended where E began. If no
//! epoch agrees, nothing does: 0.

use ferromq_protocol::CommitLogOffset;

use super::EpochEntry;

/// The end of the longest prefix `master`'s log (ending at `master_end`)
/// and `slave`'s (ending at `slave_end`) share, judged by their epoch
/// histories: the offset the slave truncates to before it takes the
/// master's bytes. 0 if no epoch agrees; a caller whose result is below
/// the master's first offset must empty the slave instead of truncating it.
pub fn agreed_end(
    master: &[EpochEntry],
    master_end: CommitLogOffset,
    slave: &[EpochEntry],
    slave_end: CommitLogOffset,
) -> CommitLogOffset {
    let ends = |h: &[EpochEntry], i: usize, end: CommitLogOffset| {
        h.get(i + 1).map_or(end, |next| next.start).min(end)
    };
    for (i, s) in slave.iter().enumerate().rev() {
        // Histories are short and sorted by epoch.
        let Ok(j) = master.binary_search_by_key(&s.epoch, |m| m.epoch) else {
            continue;
        };
        return ends(master, j, master_end).min(ends(slave, i, slave_end));
    }
    CommitLogOffset::new(0)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn e(epoch: u32, start: u64) -> EpochEntry {
        EpochEntry::new(epoch, start)
    }

    fn agreed(m: &[EpochEntry], m_end: u64, s: &[EpochEntry], s_end: u64) -> u64 {
        agreed_end(
            m,
            CommitLogOffset::new(m_end),
            s,
            CommitLogOffset::new(s_end),
        )
        .get()
    }

    #[test]
    fn same_history_agrees_up_to_the_shorter_log() {
        let h = [e(1, 0), e(2, 100)];
        assert_eq!(agreed(&h, 300, &h, 250), 250);
        assert_eq!(agreed(&h, 300, &h, 300), 300);
        // A slave ahead in the master's own epoch (the master lost an
        // unflushed tail): it keeps what the master has.
        assert_eq!(agreed(&h, 300, &h, 350), 300);
    }

    #[test]
    fn slave_ahead_in_a_stale_epoch_is_cut_where_the_master_moved_on() {
        // The slave kept taking epoch 2's records after the master of
        // epoch 3 had started at 200.
        let master = [e(1, 0), e(2, 100), e(3, 200)];
        let slave = [e(1, 0), e(2, 100)];
        assert_eq!(agreed(&master, 400, &slave, 260), 200);
        assert_eq!(
            agreed(&master, 400, &slave, 150),
            150,
            "behind: nothing to cut"
        );
    }

    #[test]
    fn an_epoch_the_master_never_had_is_cut_whole() {
        // The slave was the master of epoch 3 while cut off; the group
        // elected another master for epoch 4.
        let master = [e(1, 0), e(2, 100), e(4, 180)];
        let slave = [e(1, 0), e(2, 100), e(3, 150)];
        assert_eq!(agreed(&master, 400, &slave, 220), 150);
        // ... and the master's epoch 2 ended before the slave's did.
        let master = [e(1, 0), e(2, 100), e(4, 120)];
        assert_eq!(agreed(&master, 400, &slave, 220), 120);
    }

    #[test]
    fn nothing_agrees_without_a_common_epoch() {
        assert_eq!(agreed(&[e(1, 0)], 100, &[], 0), 0, "empty slave");
        assert_eq!(agreed(&[e(1, 0)], 100, &[], 70), 0, "slave without history");
        assert_eq!(agreed(&[e(2, 0)], 100, &[e(1, 0)], 70), 0);
        assert_eq!(
            agreed(&[], 100, &[e(1, 0)], 70),
            0,
            "master without history"
        );
    }

    /// A replica in the model: the epoch that wrote each offset (one
    /// record per offset), and its history.
    #[derive(Clone, Debug, Default)]
    struct Node {
        log: Vec<u32>,
        history: Vec<EpochEntry>,
    }

    impl Node {
        fn end(&self) -> u64 {
            self.log.len() as u64
        }

        fn begin(&mut self, epoch: u32, start: u64) {
            super::super::check_next(&self.history, e(epoch, start), self.end()).unwrap();
            self.history = super::super::with_next(&self.history, e(epoch, start));
        }

        /// The history says which epoch wrote each record.
        fn check_history(&self) {
            for (o, &epoch) in self.log.iter().enumerate() {
                let i = self.history.partition_point(|h| h.start.get() <= o as u64);
                assert!(i > 0, "offset {o} precedes the history {:?}", self.history);
                assert_eq!(self.history[i - 1].epoch, epoch, "offset {o}: {self:?}");
            }
        }
    }

    #[derive(Clone, Debug)]
    enum Op {
        /// Node becomes the master of a new epoch (clean or not: a node
        /// far behind may win).
        Elect(usize),
        /// The master appends records.
        Append(u64),
        /// A slave connects to the master, truncates to the agreed end and
        /// copies up to this many of the master's records.
        Sync(usize, u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            1 => (0..3usize).prop_map(Op::Elect),
            3 => (1..5u64).prop_map(Op::Append),
            3 => (0..3usize, 0..12u64).prop_map(|(n, k)| Op::Sync(n, k)),
        ]
    }

    proptest! {
        /// In any run of elections, appends and partial catch-ups, the
        /// agreed end is exactly where the slave's log stops matching the
        /// master's, and the histories stay true to the logs.
        #[test]
        fn agreed_end_is_where_the_logs_part(ops in proptest::collection::vec(op(), 1..60)) {
            let mut nodes = vec![Node::default(); 3];
            let mut master = 0;
            let mut epoch = 1;
            nodes[0].begin(1, 0);
            for op in ops {
                match op {
                    Op::Elect(n) => {
                        epoch += 1;
                        master = n;
                        let end = nodes[n].end();
                        nodes[n].begin(epoch, end);
                    }
                    Op::Append(k) => {
                        let m = &mut nodes[master];
                        let current = m.history.last().map_or(0, |h| h.epoch);
                        m.log.extend(std::iter::repeat_n(current, k as usize));
                    }
                    Op::Sync(n, k) if n != master => {
                        let m = nodes[master].clone();
                        let s = &mut nodes[n];
                        let got = agreed(&m.history, m.end(), &s.history, s.end());
                        let shared = m.log.iter().zip(&s.log).take_while(|(a, b)| a == b).count();
                        prop_assert_eq!(got, shared as u64, "master {:?} slave {:?}", m, s);
                        // Truncate, then copy records and the epochs they begin.
                        s.log.truncate(got as usize);
                        s.history.retain(|h| h.start.get() < got);
                        let to = (got + k).min(m.end());
                        for h in m.history.iter().filter(|h| (got..=to).contains(&h.start.get())) {
                            s.log.extend_from_slice(&m.log[s.log.len()..h.start.get() as usize]);
                            s.begin(h.epoch, h.start.get());
                        }
                        s.log.extend_from_slice(&m.log[s.log.len()..to as usize]);
                    }
                    Op::Sync(..) => {}
                }
                for n in &nodes {
                    n.check_history();
                }
            }
        }
    }
}
