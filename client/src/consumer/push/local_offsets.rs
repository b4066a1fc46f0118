//! Offsets of a broadcasting consumer, kept on local disk: every instance
//! reads every queue, so the broker cannot keep one offset per group.
//!
//! One text file per group, `<dir>/<group>/offsets`, a line per queue:
//! `topic broker_name queue_id offset` (names never contain spaces). It is
//! replaced atomically: written to a temp file, fsynced, renamed over the
//! old one, and the directory fsynced. Run one instance per directory.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use ferromq_protocol::{BrokerName, GroupName, QueueId, QueueOffset, TopicName};
use parking_lot::Mutex;
use tracing::warn;

use crate::error::{ClientError, Result};
use crate::route::MessageQueue;

const HEADER: &str = "# ferromq local consumer offsets v1";

#[derive(Debug)]
pub(super) struct LocalOffsets {
    path: PathBuf,
    /// The offsets as last set; written out whole. Never held across an
    /// await.
    map: Mutex<BTreeMap<MessageQueue, QueueOffset>>,
    /// Serialises writers of the file (periodic persist, queue release).
    write: tokio::sync::Mutex<()>,
}

impl LocalOffsets {
    /// Loads `<dir>/<group>/offsets`, or starts empty if there is none.
    ///
    /// # Errors
    /// [`ClientError::LocalOffsets`] if the file cannot be read or is not
    /// an offsets file (rather than silently start over).
    pub(super) fn load(dir: &Path, group: &GroupName) -> Result<Self> {
        let path = dir.join(group.as_str()).join("offsets");
        let failed = |source| ClientError::LocalOffsets {
            path: path.clone(),
            source,
        };
        let map = match std::fs::read_to_string(&path) {
            Ok(text) => parse(&text).map_err(failed)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(failed(e.into())),
        };
        Ok(Self {
            path,
            map: Mutex::new(map),
            write: tokio::sync::Mutex::new(()),
        })
    }

    pub(super) fn get(&self, q: &MessageQueue) -> Option<QueueOffset> {
        self.map.lock().get(q).copied()
    }

    pub(super) fn set(&self, q: &MessageQueue, offset: QueueOffset) {
        self.map.lock().insert(q.clone(), offset);
    }

    /// Writes every offset to disk.
    ///
    /// # Errors
    /// [`ClientError::LocalOffsets`] if the file cannot be written,
    /// [`ClientError::Internal`] if the writing task failed.
    pub(super) async fn persist(&self) -> Result<()> {
        let _w = self.write.lock().await;
        let text = render(&self.map.lock());
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || write_atomically(&path, text.as_bytes()))
            .await
            .map_err(|e| ClientError::Internal(format!("offset writer: {e}")))?
            .map_err(|e| ClientError::LocalOffsets {
                path: self.path.clone(),
                source: e.into(),
            })
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }
}

fn render(map: &BTreeMap<MessageQueue, QueueOffset>) -> String {
    let mut s = format!("{HEADER}\n");
    for (q, o) in map {
        s.push_str(&format!(
            "{} {} {} {}\n",
            q.topic, q.broker_name, q.queue_id, o
        ));
    }
    s
}

/// Why a broadcasting consumer's offsets file cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LocalOffsetsError {
    /// The file cannot be read or written.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A line (1-based) is not `topic broker queue_id offset`.
    #[error("line {0}: expected `topic broker queue_id offset`")]
    Fields(usize),
    /// A line (1-based) names an invalid topic or broker.
    #[error("line {0}: {1}")]
    Name(usize, ferromq_protocol::NameError),
    /// A line (1-based) has a queue id that is not a number.
    #[error("line {0}: bad queue id")]
    QueueId(usize),
    /// A line (1-based) has an offset that is not a number.
    #[error("line {0}: bad offset")]
    Offset(usize),
}

impl LocalOffsetsError {
    /// The same error again; an I/O error keeps its kind and text.
    pub(crate) fn duplicate(&self) -> Self {
        match self {
            Self::Io(e) => Self::Io(std::io::Error::new(e.kind(), e.to_string())),
            Self::Fields(n) => Self::Fields(*n),
            Self::Name(n, e) => Self::Name(*n, e.clone()),
            Self::QueueId(n) => Self::QueueId(*n),
            Self::Offset(n) => Self::Offset(*n),
        }
    }
}

fn parse(
    text: &str,
) -> std::result::Result<BTreeMap<MessageQueue, QueueOffset>, LocalOffsetsError> {
    let mut map = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let n = n + 1;
        let f: Vec<&str> = line.split(' ').collect();
        let [topic, broker, queue, offset] = f[..] else {
            return Err(LocalOffsetsError::Fields(n));
        };
        let q = MessageQueue::new(
            TopicName::new(topic).map_err(|e| LocalOffsetsError::Name(n, e))?,
            BrokerName::new(broker).map_err(|e| LocalOffsetsError::Name(n, e))?,
            QueueId::new(queue.parse().map_err(|_| LocalOffsetsError::QueueId(n))?),
        );
        let o = QueueOffset::new(offset.parse().map_err(|_| LocalOffsetsError::Offset(n))?);
        map.insert(q, o);
    }
    Ok(map)
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("offsets path has no directory"))?;
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    // The rename is durable only once the directory is.
    if let Err(e) = std::fs::File::open(dir).and_then(|d| d.sync_all()) {
        warn!(dir = %dir.display(), error = %e, "cannot fsync the offsets directory");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(topic: &str, broker: &str, id: u32) -> MessageQueue {
        MessageQueue::new(
            TopicName::new(topic).unwrap(),
            BrokerName::new(broker).unwrap(),
            QueueId::new(id),
        )
    }

    #[tokio::test]
    async fn offsets_survive_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let g = GroupName::new("g").unwrap();
        let s = LocalOffsets::load(dir.path(), &g).unwrap();
        assert_eq!(s.get(&q("T", "a", 0)), None);
        s.set(&q("T", "a", 0), QueueOffset::new(7));
        s.set(&q("T", "b", 3), QueueOffset::new(9));
        s.persist().await.unwrap();
        s.set(&q("T", "a", 0), QueueOffset::new(8));
        s.persist().await.unwrap();
        let again = LocalOffsets::load(dir.path(), &g).unwrap();
        assert_eq!(again.get(&q("T", "a", 0)), Some(QueueOffset::new(8)));
        assert_eq!(again.get(&q("T", "b", 3)), Some(QueueOffset::new(9)));
        assert!(!dir.path().join("g").join("offsets.tmp").exists());
    }

    #[test]
    fn a_garbled_file_is_an_error_not_a_fresh_start() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("g")).unwrap();
        std::fs::write(dir.path().join("g").join("offsets"), "T a zero 5\n").unwrap();
        let g = GroupName::new("g").unwrap();
        assert!(matches!(
            LocalOffsets::load(dir.path(), &g),
            Err(ClientError::LocalOffsets { .. })
        ));
        assert!(matches!(
            parse("T ../a 0 5"),
            Err(LocalOffsetsError::Name(1, _))
        ));
        assert_eq!(parse("# c\n\nT a 1 5\n").unwrap().len(), 1);
    }
}
