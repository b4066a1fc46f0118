//! `append_replicated` refuses what is not the master's log at this
//! log's end, and a refusal changes nothing: wrong offset, a bad CRC, a
//! record stamped for another offset, a partial record, a misplaced
//! marker, the wrong role.

use bytes::{Bytes, BytesMut};
use ferromq_protocol::record;
use ferromq_protocol::CommitLogOffset;

use super::*;
use crate::AppendError;

/// The slave's positions and counters: what a refusal must not move.
fn marks(s: &MessageStore) -> (u64, u64, u64, u64) {
    let st = s.stats();
    (
        st.written_offset,
        st.flushed_offset,
        st.dispatched_offset,
        st.messages,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_chunks_change_nothing() {
    let (mdir, sdir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (master, _) = open(mdir.path(), FlushMode::Sync);
    let (slave, _) = open_slave(sdir.path(), FlushMode::Sync);
    append_n(&master, "Ref", 0, 0, 40).await;
    // Half the log first, so refusals happen at a non-zero end.
    let (first, mid) = master.read_raw(CommitLogOffset::new(0), 8000).unwrap();
    slave
        .append_replicated(CommitLogOffset::new(0), first)
        .await
        .unwrap();
    let (good, _) = master.read_raw(mid, 4000).unwrap();
    let before = marks(&slave);
    let refused = |r: Result<CommitLogOffset, AppendError>| match r {
        Err(AppendError::Invalid(why)) => why,
        other => panic!("{other:?}"),
    };

    // Not at the log's end.
    let later = CommitLogOffset::new(mid.get() + 1);
    match slave.append_replicated(later, good.clone()).await {
        Err(AppendError::OffsetMismatch { expected, got }) => {
            assert_eq!((expected, got), (mid, later));
        }
        other => panic!("{other:?}"),
    }
    let (again, _) = master.read_raw(CommitLogOffset::new(0), 4000).unwrap();
    assert!(matches!(
        slave
            .append_replicated(CommitLogOffset::new(0), again)
            .await,
        Err(AppendError::OffsetMismatch { .. })
    ));

    // A flipped body byte.
    let mut b = BytesMut::from(&good[..]);
    let last = b.len() - 1;
    b[last] ^= 1;
    let why = refused(slave.append_replicated(mid, b.freeze()).await);
    assert!(why.contains("checksum"), "{why}");

    // A valid record stamped for another offset (its CRC resealed).
    let mut b = BytesMut::from(&good[..]);
    let size = match record::peek(&b) {
        record::Peek::Record(n) => n,
        other => panic!("{other:?}"),
    };
    b[28..36].copy_from_slice(&(mid.get() + 64).to_be_bytes());
    record::seal(&mut b[..size]);
    let why = refused(slave.append_replicated(mid, b.freeze()).await);
    assert!(why.contains("stamped for offset"), "{why}");

    // A record cut short, alone and after whole ones.
    let why = refused(slave.append_replicated(mid, good.slice(..size - 1)).await);
    assert!(why.contains("partial"), "{why}");
    let why = refused(
        slave
            .append_replicated(mid, good.slice(..good.len() - 3))
            .await,
    );
    assert!(why.contains("partial"), "{why}");

    // A marker where the segment does not end, and garbage.
    let mut b = BytesMut::from(&good[..size]);
    b.extend_from_slice(&record::end_of_segment(4096));
    let why = refused(slave.append_replicated(mid, b.freeze()).await);
    assert!(why.contains("marker"), "{why}");
    let why = refused(
        slave
            .append_replicated(mid, Bytes::from_static(&[7; 64]))
            .await,
    );
    assert!(why.contains("neither"), "{why}");
    refused(slave.append_replicated(mid, Bytes::new()).await);

    assert_eq!(marks(&slave), before, "nothing moved");
    // The good chunk still goes in where it belongs, and the rest after.
    slave.append_replicated(mid, good).await.unwrap();
    replicate(&master, &slave, 5000).await;
    assert!(raw_log(&slave) == raw_log(&master));
    assert_queue(&slave, "Ref", 0, 40);
    master.shutdown().await.unwrap();
    slave.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_takes_one_kind_of_append() {
    let (mdir, sdir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (master, _) = open(mdir.path(), FlushMode::Sync);
    let (slave, _) = open_slave(sdir.path(), FlushMode::Sync);
    assert_eq!(
        (master.role(), slave.role()),
        (StoreRole::Master, StoreRole::Slave)
    );
    append_n(&master, "Role", 0, 0, 3).await;
    let (chunk, _) = master.read_raw(CommitLogOffset::new(0), 1 << 20).unwrap();
    assert!(matches!(
        master
            .append_replicated(master.log_end(), chunk.clone())
            .await,
        Err(AppendError::WrongRole(StoreRole::Master))
    ));
    let t = topic("Role");
    let (buf, n) = encode(&t, &[body("Role", 0, 0)]);
    assert!(matches!(
        slave
            .append(&t, ferromq_protocol::QueueId::new(0), buf, n)
            .await,
        Err(AppendError::WrongRole(StoreRole::Slave))
    ));
    assert_eq!(slave.log_end().get(), 0);
    slave
        .append_replicated(CommitLogOffset::new(0), chunk)
        .await
        .unwrap();
    assert_queue(&slave, "Role", 0, 3);
    master.shutdown().await.unwrap();
    slave.shutdown().await.unwrap();
}
