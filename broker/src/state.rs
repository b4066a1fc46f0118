//! Broker-wide state that operators change at run time and that must
//! survive a restart: the write permission (`wipeWritePerm`) and the
//! broker's role in its group once a promotion or demotion changed it
//! (`mqadmin promoteSlave`), persisted in `config/broker.json`. A role
//! found there wins over `--broker-id` and `--master-addr`: the flags say
//! how the group was set up, the file what an operator made of it since.
//! In controller mode the file also keeps the broker's identity at the
//! controller: the id it was given and the random id of its store.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use ferromq_protocol::header::{PERM_READ_WRITE, PERM_WRITE};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::persist;

#[derive(Serialize, Deserialize)]
struct StateFile {
    perm: u8,
    /// Absent until a promotion or demotion.
    #[serde(default)]
    role: Option<Role>,
    /// Absent until the broker first runs in controller mode.
    #[serde(default)]
    controller: Option<ControllerIdentity>,
}

/// Who this broker is to the controller.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ControllerIdentity {
    /// The id the controller gave it; 0 until it registered.
    pub(crate) replica_id: u64,
    /// A random id made with the store: an id is only given back to it.
    pub(crate) store_id: String,
}

/// A broker's place in its group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Role {
    /// 0 for the master.
    pub(crate) broker_id: u64,
    /// A slave's master HA address; `None`: asked of the NameServers.
    pub(crate) master_ha: Option<String>,
}

impl Role {
    pub(crate) fn is_master(&self) -> bool {
        self.broker_id == 0
    }

    /// `master` or `slave`, as runtime info and role changes report it.
    pub(crate) fn name(&self) -> &'static str {
        if self.is_master() {
            "master"
        } else {
            "slave"
        }
    }
}

/// The broker's own permission bits and role.
pub(crate) struct BrokerState {
    path: PathBuf,
    perm: AtomicU8,
    role: Mutex<Role>,
    /// Whether the role was changed at run time (and so is in the file).
    role_changed: AtomicBool,
    /// A fenced master takes no sends (not persisted: a fenced master
    /// that restarts checks the group's master instead).
    fenced: AtomicBool,
    /// Serialises changes so the file always holds the latest value.
    write_lock: Mutex<()>,
    controller: Mutex<Option<ControllerIdentity>>,
}

impl BrokerState {
    /// Loads `config/broker.json`; `configured` is the role the flags
    /// give, used unless the file holds one.
    pub(crate) fn load(config_dir: PathBuf, configured: Role) -> std::io::Result<Self> {
        let path = config_dir.join("broker.json");
        let file = persist::read_json::<StateFile>(&path)?;
        let perm = file
            .as_ref()
            .map_or(PERM_READ_WRITE, |f| f.perm & PERM_READ_WRITE);
        let controller = file.as_ref().and_then(|f| f.controller.clone());
        let saved = file.and_then(|f| f.role);
        if let Some(r) = saved.as_ref().filter(|r| **r != configured) {
            tracing::info!(
                broker_id = r.broker_id,
                master = ?r.master_ha,
                flags_broker_id = configured.broker_id,
                file = %path.display(),
                "role changed by a promotion or demotion; it wins over the flags"
            );
        }
        Ok(Self {
            path,
            perm: AtomicU8::new(perm),
            role_changed: AtomicBool::new(saved.is_some()),
            role: Mutex::new(saved.unwrap_or(configured)),
            fenced: AtomicBool::new(false),
            write_lock: Mutex::new(()),
            controller: Mutex::new(controller),
        })
    }

    /// The identity at the controller, if the broker has one.
    pub(crate) fn controller_identity(&self) -> Option<ControllerIdentity> {
        self.controller.lock().clone()
    }

    /// Records the identity at the controller, durably.
    pub(crate) fn set_controller_identity(&self, id: ControllerIdentity) -> std::io::Result<()> {
        let _guard = self.write_lock.lock();
        persist::write_json(
            &self.path,
            &StateFile {
                perm: self.perm(),
                role: self.saved_role(),
                controller: Some(id.clone()),
            },
        )?;
        *self.controller.lock() = Some(id);
        Ok(())
    }

    /// The current role.
    pub(crate) fn role(&self) -> Role {
        self.role.lock().clone()
    }

    /// The current broker id.
    pub(crate) fn broker_id(&self) -> u64 {
        self.role.lock().broker_id
    }

    /// Takes `role`, durably.
    pub(crate) fn set_role(&self, role: Role) -> std::io::Result<()> {
        let _guard = self.write_lock.lock();
        persist::write_json(
            &self.path,
            &StateFile {
                perm: self.perm(),
                role: Some(role.clone()),
                controller: self.controller_identity(),
            },
        )?;
        *self.role.lock() = role;
        self.role_changed.store(true, Ordering::Release);
        Ok(())
    }

    pub(crate) fn is_fenced(&self) -> bool {
        self.fenced.load(Ordering::Acquire)
    }

    pub(crate) fn set_fenced(&self, fenced: bool) {
        self.fenced.store(fenced, Ordering::Release);
    }

    fn saved_role(&self) -> Option<Role> {
        self.role_changed
            .load(Ordering::Acquire)
            .then(|| self.role())
    }

    pub(crate) fn perm(&self) -> u8 {
        self.perm.load(Ordering::Acquire)
    }

    pub(crate) fn writable(&self) -> bool {
        self.perm() & PERM_WRITE != 0
    }

    /// Sets or clears the write bit, durably.
    pub(crate) fn set_writable(&self, writable: bool) -> std::io::Result<()> {
        let _guard = self.write_lock.lock();
        let perm = if writable {
            self.perm() | PERM_WRITE
        } else {
            self.perm() & !PERM_WRITE
        };
        persist::write_json(
            &self.path,
            &StateFile {
                perm,
                role: self.saved_role(),
                controller: self.controller_identity(),
            },
        )?;
        self.perm.store(perm, Ordering::Release);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn master() -> Role {
        Role {
            broker_id: 0,
            master_ha: None,
        }
    }

    #[test]
    fn wipe_survives_reload() {
        let dir = tempfile::tempdir().unwrap();
        let s = BrokerState::load(dir.path().to_path_buf(), master()).unwrap();
        assert!(s.writable());
        s.set_writable(false).unwrap();
        assert!(!BrokerState::load(dir.path().to_path_buf(), master())
            .unwrap()
            .writable());
        s.set_writable(true).unwrap();
        let s2 = BrokerState::load(dir.path().to_path_buf(), master()).unwrap();
        assert!(s2.writable());
        assert_eq!(s2.perm(), PERM_READ_WRITE);
    }

    #[test]
    fn a_changed_role_wins_over_the_flags_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let s = BrokerState::load(dir.path().to_path_buf(), master()).unwrap();
        assert_eq!(s.role(), master(), "the flags' role until a change");
        let slave = Role {
            broker_id: 2,
            master_ha: Some("10.0.0.1:10912".into()),
        };
        s.set_role(slave.clone()).unwrap();
        s.set_writable(false).unwrap();
        let s2 = BrokerState::load(dir.path().to_path_buf(), master()).unwrap();
        assert_eq!(s2.role(), slave);
        assert!(!s2.writable(), "both survive");
        assert!(!s2.is_fenced());
        let id = ControllerIdentity {
            replica_id: 3,
            store_id: "abc".into(),
        };
        s2.set_controller_identity(id.clone()).unwrap();
        s2.set_writable(true).unwrap();
        let s3 = BrokerState::load(dir.path().to_path_buf(), master()).unwrap();
        assert_eq!(s3.controller_identity(), Some(id));
        assert_eq!(s3.role(), slave, "all three survive");
    }
}
