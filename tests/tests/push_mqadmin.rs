//! The real `mqadmin` binary's consumer-group commands against an
//! in-process cluster: updateSubGroup, consumerConnection,
//! resetOffsetByTime, deleteSubGroup, and consumeMessage (a push consumer)
//! with an exact --count.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod push_common;

use std::process::Output;
use std::time::Duration;

use ferromq_client::{AdminClient, ConsumeResult, GroupName};
use ferromq_tests::{binary_path, producer, wait_for, TestCluster};
use push_common::{builder, send_n, Recorder};

async fn mqadmin(namesrv: &str, args: &[&str]) -> Output {
    tokio::process::Command::new(binary_path("mqadmin"))
        .args(args)
        .arg("-n")
        .arg(namesrv)
        .env("RUST_LOG", "error")
        .env_remove("NAMESRV_ADDR")
        .output()
        .await
        .unwrap()
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "mqadmin failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_commands_work_on_a_live_group() {
    let c = TestCluster::start().await;
    let topic = c.create_topic("Admin", 2).await;
    let ns = c.namesrv_addr();

    let out = ok(&mqadmin(
        ns,
        &["updateSubGroup", "-g", "live", "--retry-max-times", "3"],
    )
    .await);
    assert!(
        out.contains(&format!(
            "create subscription group to {} success.",
            c.broker_addr()
        )),
        "{out}"
    );

    let rec = Recorder::default();
    let r = rec.clone();
    let live = builder(ns, "live")
        .subscribe("Admin", "TagA || TagB")
        .listener_concurrently(move |msgs| {
            r.record(0, msgs);
            ConsumeResult::Success
        })
        .build()
        .unwrap();
    live.start().await.unwrap();
    let out = ok(&mqadmin(ns, &["consumerConnection", "-g", "live"]).await);
    for want in [
        live.client_id(),
        "Admin",
        "TagA || TagB",
        "%RETRY%live",
        "Push",
        "Clustering",
    ] {
        assert!(out.contains(want), "{want} missing in\n{out}");
    }
    let o = mqadmin(ns, &["consumerConnection", "-g", "nobody"]).await;
    assert_eq!(o.status.code(), Some(1));

    // Untagged messages do not match the live member's filter; it still
    // moves its offsets past them.
    let p = producer(ns);
    send_n(&p, &topic, "m", 10).await;
    let group = GroupName::new("live").unwrap();
    let admin = AdminClient::connect(ns).unwrap();
    wait_for(
        "the live group's offsets",
        Duration::from_secs(10),
        || async {
            let pr = admin.consumer_progress(&group, Some(&topic)).await.ok()?;
            (pr.queues
                .iter()
                .filter_map(|q| q.consumer_offset)
                .map(|o| o.get())
                .sum::<u64>()
                == 10)
                .then_some(())
        },
    )
    .await;
    let out = ok(&mqadmin(
        ns,
        &["resetOffsetByTime", "-g", "live", "-t", "Admin", "-s", "0"],
    )
    .await);
    assert!(out.contains("#Old Offset"), "{out}");
    assert!(out.contains("(2 queues)"), "{out}");
    live.shutdown().await;
    assert!(rec.len() == 0, "nothing matched the filter");

    // consumeMessage takes exactly --count messages and commits exactly
    // those; the next run gets the rest.
    let first = ok(&mqadmin(
        ns,
        &[
            "consumeMessage",
            "-t",
            "Admin",
            "-g",
            "console",
            "--from-beginning",
            "--count",
            "4",
            "--json",
        ],
    )
    .await);
    assert_eq!(first.lines().count(), 4, "{first}");
    let console = GroupName::new("console").unwrap();
    let pr = admin
        .consumer_progress(&console, Some(&topic))
        .await
        .unwrap();
    let committed: u64 = pr
        .queues
        .iter()
        .filter_map(|q| q.consumer_offset)
        .map(|o| o.get())
        .sum();
    assert_eq!(committed, 4);
    let rest = ok(&mqadmin(
        ns,
        &[
            "consumeMessage",
            "-t",
            "Admin",
            "-g",
            "console",
            "--timeout-ms",
            "1500",
            "--json",
        ],
    )
    .await);
    assert_eq!(rest.lines().count(), 6, "{rest}");
    let keys: std::collections::BTreeSet<String> = first
        .lines()
        .chain(rest.lines())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["keys"][0].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(keys.len(), 10, "every message once over the two runs");

    let out = ok(&mqadmin(ns, &["deleteSubGroup", "-g", "live"]).await);
    assert!(out.contains("delete subscription group live"), "{out}");
}
