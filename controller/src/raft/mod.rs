//! What the Raft library needs from the controller: its types, the log
//! and snapshot on disk, the state machine, and the network.

pub(crate) mod files;
pub mod log_store;
pub mod network;
pub mod state_machine;
pub mod types;
