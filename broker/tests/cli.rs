//! The `mqbroker` binary's command line. (This file also makes
//! `cargo test --workspace` build the binary, which the kill -9 tests in
//! `tests/` run.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn mqbroker() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mqbroker"))
}

#[test]
fn help_lists_the_documented_flags() {
    let out = mqbroker().arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--listen",
        "--namesrv-addr",
        "--store-dir",
        "--broker-name",
        "--cluster",
        "--flush",
        "--config",
        "--standalone",
    ] {
        assert!(help.contains(flag), "--help does not mention {flag}");
    }
}

#[test]
fn bad_flag_values_and_config_files_are_clear_errors() {
    let out = mqbroker().args(["--flush", "sometimes"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("sometimes"));

    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("broker.toml");
    std::fs::write(&cfg, "flsuh = \"sync\"\n").unwrap();
    let out = mqbroker().arg("--config").arg(&cfg).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("flsuh"),
        "error should name the unknown key: {err}"
    );

    std::fs::write(&cfg, "flush = \"sometimes\"\n").unwrap();
    let out = mqbroker().arg("--config").arg(&cfg).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("broker.toml") && err.contains("sometimes"),
        "error should name the file and the value: {err}"
    );

    let out = mqbroker()
        .args(["--broker-name", "../evil"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}
