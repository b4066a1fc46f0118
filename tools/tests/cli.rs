//! The tool binaries' command lines. (This file also makes
//! `cargo test --workspace` build `mqadmin` and `mqbench`, which the
//! end-to-end tests in `tests/` run.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn help(bin: &str) -> String {
    let out = Command::new(bin).arg("--help").output().unwrap();
    assert!(out.status.success(), "{bin} --help failed");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn mqadmin_lists_rocketmq_command_names() {
    let h = help(env!("CARGO_BIN_EXE_mqadmin"));
    for cmd in [
        "updateTopic",
        "deleteTopic",
        "topicList",
        "topicRoute",
        "topicStatus",
        "clusterList",
        "sendMessage",
        "consumeMessage",
        "consumerProgress",
        "queryMsgById",
        "brokerStatus",
        "wipeWritePerm",
        "updateSubGroup",
        "resetOffsetByTime",
        "getControllerMetaData",
        "getSyncStateSet",
        "getBrokerEpoch",
        "electMaster",
        "cleanBrokerData",
    ] {
        assert!(h.contains(cmd), "mqadmin --help does not list {cmd}");
    }
}

#[test]
fn mqadmin_rejects_an_invalid_topic_before_connecting() {
    let out = Command::new(env!("CARGO_BIN_EXE_mqadmin"))
        .args(["-n", "127.0.0.1:1", "sendMessage", "-t", "../x", "-p", "a"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("../x"));
}

#[test]
fn mqbench_lists_its_kinds_of_run() {
    let h = help(env!("CARGO_BIN_EXE_mqbench"));
    for kind in ["produce", "consume", "e2e"] {
        assert!(h.contains(kind), "mqbench --help does not list {kind}");
    }
}
