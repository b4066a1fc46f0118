//! The `mqnamesrv` binary's command line and config file.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn mqnamesrv() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mqnamesrv"))
}

fn config_file(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("namesrv.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

#[test]
fn help_lists_the_flags() {
    let out = mqnamesrv().arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--listen",
        "--config",
        "--broker-expiry-secs",
        "--scan-interval-ms",
    ] {
        assert!(help.contains(flag), "--help does not mention {flag}");
    }
}

#[test]
fn bad_config_files_are_clear_errors() {
    let (_d, cfg) = config_file("scan_intervall_ms = 10\n");
    let out = mqnamesrv().arg("--config").arg(&cfg).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("scan_intervall_ms"), "{err}");

    let (_d, cfg) = config_file("scan_interval_ms = 0\n");
    let out = mqnamesrv().arg("--config").arg(&cfg).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("namesrv.toml") && err.contains('0'), "{err}");

    let out = mqnamesrv()
        .args(["--broker-expiry-secs", "0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn the_config_file_is_read_and_flags_win() {
    // The file moves the listener to loopback port 0 (from the default
    // 0.0.0.0:9876) and sets a scan interval the NameServer refuses; the
    // flag's interval must win, or it would not start.
    let (_d, cfg) = config_file("listen = \"127.0.0.1:0\"\nscan_interval_ms = 0\n");
    let mut child = mqnamesrv()
        .arg("--config")
        .arg(&cfg)
        .args(["--scan-interval-ms", "50"])
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut listening = None;
    while listening.is_none() {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains("listening on") => listening = Some(line),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let line = listening.expect("mqnamesrv never logged its listening address");
    assert!(
        line.contains("listening on 127.0.0.1:") && !line.contains(":9876"),
        "the file's listen address was not used: {line}"
    );
}
