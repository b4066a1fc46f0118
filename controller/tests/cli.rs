//! `mqcontroller`'s command line. (This file also makes
//! `cargo test --workspace` build `mqcontroller`, which the end-to-end
//! tests in `tests/` run.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn run(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mqcontroller"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn help_lists_the_controller_settings() {
    let (ok, out, _) = run(&["--help"]);
    assert!(ok);
    for flag in [
        "--controller-id",
        "--controller-peers",
        "--controller-dir",
        "--broker-heartbeat-timeout-ms",
        "--enable-elect-unclean-master",
    ] {
        assert!(out.contains(flag), "--help does not list {flag}");
    }
}

#[test]
fn bad_settings_fail_with_a_clear_error_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    for (args, says) in [
        (vec!["--controller-dir", d], "--controller-id is required"),
        (
            vec![
                "--controller-id",
                "4",
                "--controller-peers",
                "1-127.0.0.1:1",
                "--controller-dir",
                d,
            ],
            "not among",
        ),
        (
            vec![
                "--controller-id",
                "1",
                "--controller-peers",
                "1-nocolon",
                "--controller-dir",
                d,
            ],
            "not HOST:PORT",
        ),
    ] {
        let (ok, _, err) = run(&args);
        assert!(!ok, "{args:?} must fail");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing written for a bad configuration"
    );
}
