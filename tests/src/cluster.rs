//! An in-process NameServer + broker on port 0 with a temp store.

use std::path::Path;
use std::time::Duration;

use std::sync::Arc;

use ferromq_broker::{BrokerConfig, BrokerHandle};
use ferromq_nameserver::NameServerConfig;
use ferromq_store::MessageStore;
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

struct Running {
    token: CancellationToken,
    handle: BrokerHandle,
}

/// A NameServer and one broker running in the test's runtime.
pub struct TestCluster {
    dir: TempDir,
    namesrv_addr: String,
    ns_token: CancellationToken,
    broker: Option<Running>,
    broker_addr: String,
    config: BrokerConfig,
}

impl TestCluster {
    /// Starts with the default broker config (sync flush) on a temp dir.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts with a broker config adjusted by `f`.
    pub async fn start_with(f: impl FnOnce(&mut BrokerConfig)) -> Self {
        crate::init_tracing();
        let dir = tempfile::tempdir().unwrap();
        let ns = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let namesrv_addr = ns.local_addr().unwrap().to_string();
        let ns_token = CancellationToken::new();
        let t = ns_token.clone();
        tokio::spawn(async move {
            let _ = ferromq_nameserver::run(NameServerConfig::default(), ns, t).await;
        });
        let mut config = BrokerConfig::new(dir.path().join("store"));
        config.namesrv_addrs = vec![namesrv_addr.clone()];
        config.register_interval = Duration::from_secs(1);
        // Tests must not depend on how full the machine's disk happens to
        // be: refuse writes and force-delete only on a completely full disk.
        config.store.disk_clean_ratio = 1.0;
        config.store.disk_force_clean_ratio = 1.0;
        config.store.disk_reject_ratio = 1.0;
        config.store.segment_size = crate::TEST_SEGMENT_SIZE;
        // Port 0 like the broker's own, so parallel tests never collide.
        config.ha.ha_listen = Some("127.0.0.1:0".into());
        f(&mut config);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let broker_addr = listener.local_addr().unwrap().to_string();
        let mut c = Self {
            dir,
            namesrv_addr,
            ns_token,
            broker: None,
            broker_addr,
            config,
        };
        c.run_broker(listener).await;
        c
    }

    async fn run_broker(&mut self, listener: TcpListener) {
        let token = CancellationToken::new();
        let handle = ferromq_broker::start(self.config.clone(), listener, token.clone())
            .await
            .unwrap();
        self.broker = Some(Running { token, handle });
    }

    /// The running broker's store.
    pub fn store(&self) -> Arc<MessageStore> {
        self.broker
            .as_ref()
            .expect("broker is stopped")
            .handle
            .store()
            .clone()
    }

    /// The NameServer's address.
    pub fn namesrv_addr(&self) -> &str {
        &self.namesrv_addr
    }

    /// The broker's HA port (where its slaves connect).
    pub fn ha_addr(&self) -> std::net::SocketAddr {
        self.broker
            .as_ref()
            .expect("broker is stopped")
            .handle
            .ha_addr()
    }

    /// The broker's address.
    pub fn broker_addr(&self) -> &str {
        &self.broker_addr
    }

    /// The broker's store directory.
    pub fn store_dir(&self) -> &Path {
        &self.config.store.dir
    }

    /// The temp dir everything lives in.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Shuts the broker down cleanly and waits until it has stopped.
    pub async fn stop_broker(&mut self) {
        if let Some(r) = self.broker.take() {
            r.token.cancel();
            r.handle.join().await.unwrap();
        }
    }

    /// Starts the broker again on the same store and port.
    pub async fn restart_broker(&mut self) {
        self.stop_broker().await;
        let listener = crate::wait_for(
            "the broker port to be free",
            Duration::from_secs(10),
            || async { TcpListener::bind(&self.broker_addr).await.ok() },
        )
        .await;
        self.run_broker(listener).await;
        self.wait_registered().await;
    }

    /// Waits until the NameServer lists the broker (and so its topics).
    pub async fn wait_registered(&self) {
        let admin = ferromq_client::AdminClient::connect(&self.namesrv_addr).unwrap();
        crate::wait_for(
            "the broker to register",
            Duration::from_secs(10),
            || async {
                let info = admin.cluster_info().await.ok()?;
                info.live
                    .iter()
                    .any(|b| b.addr == self.broker_addr)
                    .then_some(())
            },
        )
        .await;
    }
}

impl Drop for TestCluster {
    /// Stops the broker before the temp dir is removed: a checkpoint or a
    /// state file written while the directory is being removed would leave
    /// it behind.
    fn drop(&mut self) {
        let Some(r) = self.broker.take() else {
            self.ns_token.cancel();
            return;
        };
        r.token.cancel();
        match tokio::runtime::Handle::try_current() {
            Ok(rt) if rt.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                // Other workers run the broker's shutdown now: wait for all
                // of it (its store's final checkpoint, its offsets).
                let joined = tokio::task::block_in_place(|| {
                    rt.block_on(tokio::time::timeout(
                        Duration::from_secs(30),
                        r.handle.join(),
                    ))
                });
                match joined {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::warn!(error = %e, "broker stopped with an error"),
                    Err(_) => tracing::warn!("broker did not stop within 30 s"),
                }
            }
            _ => {
                // One thread, this one: the broker's shutdown does not run
                // while the dir is removed, but the store's own threads
                // would (its checkpointer), so stop them here.
                if let Err(e) = r.handle.store().shutdown_blocking() {
                    tracing::warn!(error = %e, "store shutdown at the end of the test failed");
                }
            }
        }
        // After the broker, so its unregistering finds the NameServer.
        self.ns_token.cancel();
    }
}

impl TestCluster {
    /// Creates `name` with `queues` read/write queues on the cluster and
    /// waits until the NameServer routes it.
    pub async fn create_topic(&self, name: &str, queues: u32) -> ferromq_client::TopicName {
        crate::create_topic(self.namesrv_addr(), name, queues).await
    }
}
