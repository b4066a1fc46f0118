//! How the `queryMsgBy*` commands print a message: every stored field, then
//! the body as (lossy) UTF-8, cut after [`BODY_PREVIEW`] bytes unless
//! `--full` is given, so one large binary body does not flood a terminal.

use std::io::{self, Write};

use ferromq_client::StoredMessage;

use crate::format::utc_millis;

/// Body bytes printed without `--full`.
pub const BODY_PREVIEW: usize = 4096;

/// Flags shared by the commands that print messages.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct BodyArgs {
    /// Print the whole body (by default only its first 4096 bytes).
    #[arg(long = "full")]
    pub full: bool,
}

/// Prints one message.
///
/// # Errors
/// Failing to write to `out`.
pub fn print_message(m: &StoredMessage, body: BodyArgs, out: &mut impl Write) -> io::Result<()> {
    let msg = &m.message;
    let field = |out: &mut dyn Write, name: &str, value: &dyn std::fmt::Display| {
        writeln!(out, "{:<19}{value}", format!("{name}:"))
    };
    field(out, "Topic", &msg.topic)?;
    field(out, "Queue ID", &m.queue_id)?;
    field(out, "Queue Offset", &m.queue_offset)?;
    field(out, "Commit Log Offset", &m.commit_log_offset)?;
    field(out, "Msg ID", &m.msg_id())?;
    field(out, "Unique ID", &m.unique_id().unwrap_or("-"))?;
    let keys = if msg.keys.is_empty() {
        "-".to_string()
    } else {
        msg.keys.join(" ")
    };
    field(out, "Keys", &keys)?;
    field(out, "Tags", &msg.tags.as_deref().unwrap_or("-"))?;
    if msg.properties.is_empty() {
        field(out, "Properties", &"-")?;
    }
    for (i, (k, v)) in msg.properties.iter().enumerate() {
        let name = if i == 0 { "Properties:" } else { "" };
        writeln!(out, "{name:<19}{k}={v}")?;
    }
    field(
        out,
        "Born Time",
        &format!("{} UTC", utc_millis(m.born_timestamp)),
    )?;
    field(out, "Born Host", &m.born_host)?;
    field(
        out,
        "Store Time",
        &format!("{} UTC", utc_millis(m.store_timestamp)),
    )?;
    field(out, "Store Host", &m.store_host)?;
    field(out, "Reconsume Times", &m.reconsume_times)?;
    field(out, "Stored Size", &format!("{} bytes", m.stored_size))?;
    field(out, "Body Size", &format!("{} bytes", msg.body.len()))?;
    writeln!(out, "Body:")?;
    let shown = if body.full {
        msg.body.len()
    } else {
        msg.body.len().min(BODY_PREVIEW)
    };
    writeln!(out, "{}", String::from_utf8_lossy(&msg.body[..shown]))?;
    if shown < msg.body.len() {
        writeln!(
            out,
            "... (body truncated: {shown} of {} bytes shown; use --full for all)",
            msg.body.len()
        )?;
    }
    Ok(())
}

/// Prints several messages, separated by a rule.
///
/// # Errors
/// Failing to write to `out`.
pub fn print_messages(
    msgs: &[StoredMessage],
    body: BodyArgs,
    out: &mut impl Write,
) -> io::Result<()> {
    for (i, m) in msgs.iter().enumerate() {
        if i > 0 {
            writeln!(out, "{}", "-".repeat(60))?;
        }
        print_message(m, body, out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use ferromq_client::{CommitLogOffset, Message, QueueId, QueueOffset, TopicName};

    use super::*;

    fn stored(body: Vec<u8>) -> StoredMessage {
        let mut properties = BTreeMap::new();
        properties.insert("UNIQ_KEY".to_string(), "ABC".to_string());
        properties.insert("color".to_string(), "blue".to_string());
        StoredMessage {
            message: Message {
                topic: TopicName::new("T").unwrap(),
                tags: Some("TagA".into()),
                keys: vec!["k1".into(), "k2".into()],
                properties,
                body: body.into(),
            },
            flags: 0,
            queue_id: QueueId::new(2),
            queue_offset: QueueOffset::new(7),
            commit_log_offset: CommitLogOffset::new(0x1234),
            stored_size: 300,
            born_timestamp: 1_700_000_000_123,
            store_timestamp: 1_700_000_000_456,
            born_host: "10.0.0.1:0".parse().unwrap(),
            store_host: "127.0.0.1:10911".parse().unwrap(),
            reconsume_times: 1,
        }
    }

    fn printed(m: &StoredMessage, full: bool) -> String {
        let mut out = Vec::new();
        print_message(m, BodyArgs { full }, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn every_field_is_printed() {
        let s = printed(&stored(b"hello \xFF".to_vec()), false);
        for want in [
            "Topic:             T\n",
            "Queue ID:          2\n",
            "Queue Offset:      7\n",
            "Commit Log Offset: 4660\n",
            "Msg ID:            7F00000100002A9F0000000000001234\n",
            "Unique ID:         ABC\n",
            "Keys:              k1 k2\n",
            "Tags:              TagA\n",
            "Properties:        UNIQ_KEY=ABC\n                   color=blue\n",
            "Born Time:         2023-11-14 22:13:20.123 UTC\n",
            "Born Host:         10.0.0.1:0\n",
            "Store Time:        2023-11-14 22:13:20.456 UTC\n",
            "Store Host:        127.0.0.1:10911\n",
            "Reconsume Times:   1\n",
            "Stored Size:       300 bytes\n",
            "Body Size:         7 bytes\n",
            "Body:\nhello \u{FFFD}\n",
        ] {
            assert!(s.contains(want), "missing {want:?} in\n{s}");
        }
        assert!(!s.contains("truncated"));
    }

    #[test]
    fn long_bodies_are_cut_unless_full() {
        let m = stored(vec![b'a'; BODY_PREVIEW + 10]);
        let s = printed(&m, false);
        assert!(s.contains(&format!("\n{}\n", "a".repeat(BODY_PREVIEW))));
        assert!(s.contains("(body truncated: 4096 of 4106 bytes shown; use --full for all)"));
        let s = printed(&m, true);
        assert!(s.contains(&"a".repeat(BODY_PREVIEW + 10)));
        assert!(!s.contains("truncated"));
    }
}
