//! The controller's Raft types: its log entries are [`Command`]s, applying
//! one gives an [`Outcome`], nodes are numbered and addressed by
//! `host:port`, and a snapshot is the encoded [`crate::state::ControllerState`]
//! (small enough to travel in one frame).

use openraft::BasicNode;

use crate::state::{Command, Outcome};

openraft::declare_raft_types!(
    /// The controller's Raft type configuration.
    pub TypeConfig:
        D = Command,
        R = Outcome,
        NodeId = u64,
        Node = BasicNode,
        SnapshotData = Vec<u8>,
);

/// The controller's Raft handle.
pub type Raft = openraft::Raft<TypeConfig>;
