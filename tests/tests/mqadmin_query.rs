//! The real `mqadmin` binary against an in-process cluster:
//! `queryMsgById`, `queryMsgByKey`, `queryMsgByOffset` and
//! `queryMsgByUniqueKey` print the message; a miss is one line on stderr
//! and exit code 1.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Output;

use ferromq_client::Message;
use ferromq_tests::{binary_path, producer, TestCluster};

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

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_commands_print_the_message() {
    let c = TestCluster::start().await;
    let topic = c.create_topic("AdminQuery", 2).await;
    let p = producer(c.namesrv_addr());
    let r = p
        .send(
            Message::new(topic.clone(), "hello from the test")
                .with_key("order-42")
                .with_key("user-7")
                .with_tags("TagA")
                .with_property("color", "blue"),
        )
        .await
        .unwrap();
    // A large body is compressed by the producer and cut by mqadmin.
    let long = "0123456789".repeat(1000);
    let r2 = p
        .send(Message::new(topic.clone(), long.clone()).with_key("order-42"))
        .await
        .unwrap();
    let ns = c.namesrv_addr();

    let id = r.msg_id.to_string();
    let o = mqadmin(ns, &["queryMsgById", "-i", &id]).await;
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for want in [
        "Topic:             AdminQuery\n".to_string(),
        format!("Msg ID:            {id}\n"),
        format!("Unique ID:         {}\n", r.unique_id),
        "Keys:              order-42 user-7\n".to_string(),
        "Tags:              TagA\n".to_string(),
        "color=blue\n".to_string(),
        format!("Queue ID:          {}\n", r.queue_id),
        format!("Queue Offset:      {}\n", r.queue_offset),
        format!("Store Host:        {}\n", c.broker_addr()),
        "Body:\nhello from the test\n".to_string(),
    ] {
        assert!(out.contains(&want), "missing {want:?} in\n{out}");
    }
    assert!(
        out.contains("Store Time:") && out.contains(" UTC\n"),
        "{out}"
    );

    // By key: both messages, newest (the long one) first, body cut.
    let o = mqadmin(ns, &["queryMsgByKey", "-t", "AdminQuery", "-k", "order-42"]).await;
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let first = out.find(&r2.msg_id.to_string()).expect("long message");
    let second = out.find(&id).expect("first message");
    assert!(first < second, "newest first:\n{out}");
    assert!(out.contains("Body:\nhello from the test\n"), "{out}");
    assert!(out.contains("Body Size:         10000 bytes\n"), "{out}");
    assert!(
        out.contains(&format!("Body:\n{}\n", &long[..4096])),
        "{out}"
    );
    assert!(out.contains("body truncated: 4096 of 10000 bytes shown; use --full"));
    assert!(stderr(&o).contains("found 2 message(s)"), "{}", stderr(&o));

    let o = mqadmin(
        ns,
        &[
            "queryMsgByKey",
            "-t",
            "AdminQuery",
            "-k",
            "order-42",
            "--max",
            "1",
            "--full",
        ],
    )
    .await;
    let out = stdout(&o);
    assert!(out.contains(&format!("Body:\n{long}\n")), "{out}");
    assert!(!out.contains("hello from the test"), "--max 1:\n{out}");

    let (q, off) = (r.queue_id.to_string(), r.queue_offset.to_string());
    let o = mqadmin(
        ns,
        &[
            "queryMsgByOffset",
            "-b",
            r.broker_name.as_str(),
            "-t",
            "AdminQuery",
            "-q",
            &q,
            "-o",
            &off,
        ],
    )
    .await;
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains(&format!("Msg ID:            {id}\n")));

    let o = mqadmin(
        ns,
        &[
            "queryMsgByUniqueKey",
            "-t",
            "AdminQuery",
            "-i",
            &r.unique_id,
        ],
    )
    .await;
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("Body:\nhello from the test\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misses_are_one_line_on_stderr_and_exit_1() {
    let c = TestCluster::start().await;
    let topic = c.create_topic("AdminMiss", 1).await;
    let r = producer(c.namesrv_addr())
        .send(Message::new(topic, "x"))
        .await
        .unwrap();
    let ns = c.namesrv_addr();
    let missing = ferromq_client::MessageId::new(r.msg_id.store_host(), (1u64 << 40).into());
    let cases: [(Vec<String>, &str); 4] = [
        (
            vec!["queryMsgById".into(), "-i".into(), missing.to_string()],
            "no message with id",
        ),
        (
            vec![
                "queryMsgByKey".into(),
                "-t".into(),
                "AdminMiss".into(),
                "-k".into(),
                "nope".into(),
            ],
            "no message with key \"nope\" in topic AdminMiss",
        ),
        (
            vec![
                "queryMsgByOffset".into(),
                "-b".into(),
                r.broker_name.to_string(),
                "-t".into(),
                "AdminMiss".into(),
                "-q".into(),
                "0".into(),
                "-o".into(),
                "99".into(),
            ],
            "no message at offset 99 of queue 0",
        ),
        (
            vec![
                "queryMsgByUniqueKey".into(),
                "-t".into(),
                "AdminMiss".into(),
                "-i".into(),
                "NOPE".into(),
            ],
            "no message with unique id",
        ),
    ];
    for (args, want) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = mqadmin(ns, &args).await;
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        let err = stderr(&o);
        assert!(err.contains(want), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(stdout(&o).is_empty(), "{args:?}");
    }
}
