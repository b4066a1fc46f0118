//! Settings declared once, read from four layers.
//!
//! A server's settings are one clap declaration (`#[derive(Parser)]`, with
//! `#[command(flatten)]` for the parts other crates own, such as the
//! store's). Each setting's flag, environment variable (where one exists),
//! default and help text sit on its field; nothing else lists it. A TOML
//! file named with `--config FILE` uses the same names, with `_` for `-`
//! (`segment_size = 1048576` is `--segment-size 1048576`), so the file
//! needs no declaration of its own.
//!
//! Precedence, highest first: flags, environment, file, defaults. The
//! file's settings are turned into flags and parsed by the same clap
//! command, *before* the real flags and only for settings that neither a
//! flag nor the environment set. A key that names no flag is an error, as
//! is a value clap refuses; both name the file and the key.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{ArgAction, ArgMatches, Command, FromArgMatches};
use thiserror::Error;

/// Why settings could not be read.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The command line itself is wrong, or asks for `--help`/`--version`.
    /// [`clap::Error::exit`] prints it the way clap does.
    #[error(transparent)]
    Args(#[from] clap::Error),
    /// The file named by `--config` cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("{path} is not valid TOML: {source}")]
    Toml {
        /// The file.
        path: PathBuf,
        /// The parser's error, with line and column.
        source: toml::de::Error,
    },
    /// A key in the file that is no setting (a typo, usually).
    #[error("{path}: unknown key `{key}`")]
    UnknownKey {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
    },
    /// A value in the file of a kind no setting takes (a table, an array,
    /// a date), or not a boolean for a switch.
    #[error("{path}: key `{key}` takes {expected}")]
    BadKind {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
        /// What the key takes.
        expected: &'static str,
    },
    /// A value in the file that the setting refuses.
    #[error("{path}: {message}")]
    BadValue {
        /// The file.
        path: PathBuf,
        /// clap's explanation, naming the setting and the value.
        message: String,
    },
}

/// Settings of type `T` and how each was set.
#[derive(Debug)]
pub struct Layered<T> {
    /// The settings.
    pub value: T,
    /// The final matches, for [`Layered::is_default`].
    matches: ArgMatches,
}

impl<T> Layered<T> {
    /// Whether the setting with clap id `id` (the field name) was left at
    /// its default by flags, environment and file alike.
    pub fn is_default(&self, id: &str) -> bool {
        matches!(
            self.matches.value_source(id),
            None | Some(ValueSource::DefaultValue)
        )
    }
}

/// Parses `T` from `args` (program name first), layering the TOML file
/// named by the argument with id `config_id` (a `PathBuf` option) under the
/// flags and the environment.
///
/// # Errors
/// See [`ConfigError`].
pub fn parse<T, I>(args: I, config_id: &str) -> Result<Layered<T>, ConfigError>
where
    T: clap::CommandFactory + FromArgMatches,
    I: IntoIterator,
    I::Item: Into<OsString>,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let cmd = T::command();
    let cli = cmd.clone().try_get_matches_from(&args)?;
    let Some(path) = cli.get_one::<PathBuf>(config_id).cloned() else {
        let value = T::from_arg_matches(&cli)?;
        return Ok(Layered {
            value,
            matches: cli,
        });
    };
    let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
        path: path.clone(),
        source,
    })?;
    let file_args = file_flags(&cmd, &cli, config_id, &path, &text)?;

    let program = args
        .first()
        .cloned()
        .unwrap_or_else(|| cmd.get_name().into());
    // The file alone first, so that a bad value is reported as the file's.
    cmd.clone()
        .try_get_matches_from(std::iter::once(program.clone()).chain(file_args.iter().cloned()))
        .map_err(|e| ConfigError::BadValue {
            path: path.clone(),
            message: first_line(&e.to_string()),
        })?;
    let all = std::iter::once(program)
        .chain(file_args)
        .chain(args.into_iter().skip(1));
    let matches = cmd.try_get_matches_from(all)?;
    let value = T::from_arg_matches(&matches)?;
    Ok(Layered { value, matches })
}

/// Returns the flags that the file's keys stand for, leaving out those set
/// on the command line or in the environment.
fn file_flags(
    cmd: &Command,
    cli: &ArgMatches,
    config_id: &str,
    path: &Path,
    text: &str,
) -> Result<Vec<OsString>, ConfigError> {
    let table: toml::Table = toml::from_str(text).map_err(|source| ConfigError::Toml {
        path: path.to_path_buf(),
        source,
    })?;
    let mut flags = Vec::new();
    for (key, value) in &table {
        let long = key.replace('_', "-");
        let arg = cmd
            .get_arguments()
            .find(|a| a.get_long() == Some(long.as_str()) && a.get_id() != config_id)
            .ok_or_else(|| ConfigError::UnknownKey {
                path: path.to_path_buf(),
                key: key.clone(),
            })?;
        if matches!(
            cli.value_source(arg.get_id().as_str()),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        ) {
            continue;
        }
        let bad_kind = |expected| ConfigError::BadKind {
            path: path.to_path_buf(),
            key: key.clone(),
            expected,
        };
        if matches!(arg.get_action(), ArgAction::SetTrue) {
            match value {
                toml::Value::Boolean(true) => flags.push(format!("--{long}").into()),
                toml::Value::Boolean(false) => {}
                _ => return Err(bad_kind("true or false")),
            }
            continue;
        }
        let text = match value {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            _ => return Err(bad_kind("a string, a number or a boolean")),
        };
        flags.push(format!("--{long}={text}").into());
    }
    Ok(flags)
}

/// Parses a whole number of milliseconds: the value parser of settings
/// whose flags end in `-ms`.
///
/// # Errors
/// Not a whole number.
pub fn millis(s: &str) -> Result<Duration, std::num::ParseIntError> {
    s.parse().map(Duration::from_millis)
}

/// Parses a whole number of hours: the value parser of settings whose flags
/// end in `-hours`. More hours than a `Duration` holds mean for ever.
///
/// # Errors
/// Not a whole number.
pub fn hours(s: &str) -> Result<Duration, std::num::ParseIntError> {
    s.parse::<u64>()
        .map(|h| Duration::from_secs(h.saturating_mul(3600)))
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Args {
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long, default_value_t = 1)]
        count: u32,
        #[arg(long, default_value = "a")]
        name: String,
        #[arg(long, env = "FERROMQ_CONFIG_TEST_ADDR", default_value = "x")]
        addr: String,
        #[arg(long)]
        standalone: bool,
        #[arg(long, default_value_t = true, action = ArgAction::Set)]
        direct_io: bool,
    }

    fn file(text: &str) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, text).unwrap();
        let s = p.to_str().unwrap().to_string();
        (dir, s)
    }

    #[test]
    fn flags_win_over_the_file_and_the_file_over_defaults() {
        let (_d, p) = file("count = 5\nname = \"f\"\nstandalone = true\ndirect_io = false\n");
        let l = parse::<Args, _>(["t", "--config", &p, "--name", "cli"], "config").unwrap();
        assert_eq!(l.value.count, 5);
        assert_eq!(l.value.name, "cli");
        assert!(l.value.standalone);
        assert!(!l.value.direct_io);
        assert!(!l.is_default("count"));
        assert!(l.is_default("addr"));

        let l = parse::<Args, _>(["t"], "config").unwrap();
        assert_eq!((l.value.count, l.value.name.as_str()), (1, "a"));
        assert!(l.is_default("count"));
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_file_and_key() {
        let (_d, p) = file("cuont = 5\n");
        let e = parse::<Args, _>(["t", "--config", &p], "config").unwrap_err();
        assert!(
            matches!(&e, ConfigError::UnknownKey { key, .. } if key == "cuont"),
            "{e}"
        );
        assert!(e.to_string().contains("cuont"));

        let (_d, p) = file("count = \"many\"\n");
        let e = parse::<Args, _>(["t", "--config", &p], "config").unwrap_err();
        assert!(matches!(&e, ConfigError::BadValue { .. }), "{e}");
        assert!(e.to_string().contains("many"), "{e}");

        let (_d, p) = file("count = [1]\n");
        let e = parse::<Args, _>(["t", "--config", &p], "config").unwrap_err();
        assert!(matches!(&e, ConfigError::BadKind { .. }), "{e}");

        let (_d, p) = file("config = \"other.toml\"\n");
        let e = parse::<Args, _>(["t", "--config", &p], "config").unwrap_err();
        assert!(matches!(&e, ConfigError::UnknownKey { .. }), "{e}");

        let (_d, p) = file("count = \n");
        let e = parse::<Args, _>(["t", "--config", &p], "config").unwrap_err();
        assert!(matches!(&e, ConfigError::Toml { .. }), "{e}");

        let e = parse::<Args, _>(["t", "--config", "/nonexistent/c.toml"], "config").unwrap_err();
        assert!(matches!(&e, ConfigError::Read { .. }), "{e}");
    }
}
