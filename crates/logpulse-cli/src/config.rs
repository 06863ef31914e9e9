//! `logpulse run --config FILE`: a job's settings in a TOML file instead of (or under) flags.
//!
//! A key is a `run` flag's long name (`window`, `kafka-brokers`; `_` may stand for `-`), or
//! `inputs` for the files to read. Values: a string or number is the flag's value; `true`
//! gives a switch (`false` leaves it off); an array repeats the flag (`filter = ["status>=500",
//! ...]`, `inputs = [...]`); a table repeats it with `KEY=VALUE` values, which reads well for
//! librdkafka properties:
//!
//! ```toml
//! kafka-brokers = "broker1:9092,broker2:9092"
//! topic = "access-logs"
//! group = "logpulse"
//! [kafka-option]
//! "security.protocol" = "SASL_SSL"
//! "sasl.mechanism" = "SCRAM-SHA-256"
//! ```
//!
//! The file is turned into the flags it stands for, and clap parses them with the command
//! line's: every flag has its key with no second list to keep in step, and values are checked
//! exactly as flags are. A setting given on the command line replaces the file's (lists too).

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use clap::parser::ValueSource;
use clap::{ArgAction, CommandFactory};

use crate::args::Cli;

/// The flag that names a config file.
const CONFIG_FLAG: &str = "config";
/// The key of the positional input files.
const INPUTS_KEY: &str = "inputs";

/// `argv` with the settings of `run --config FILE` spliced in (unchanged for any other
/// command, or when no config file is named). The command line is read leniently here: it may
/// lack what the file gives (`--kafka-brokers` here, `topic` and `group` there); clap checks
/// the whole once the file's flags are in.
pub fn expand_argv(argv: Vec<OsString>) -> Result<Vec<OsString>> {
    let Ok(matches) = Cli::command()
        .ignore_errors(true)
        .try_get_matches_from(&argv)
    else {
        return Ok(argv);
    };
    let Some(("run", run)) = matches.subcommand() else {
        return Ok(argv);
    };
    let Some(path) = run.get_one::<PathBuf>(CONFIG_FLAG) else {
        return Ok(argv);
    };
    let on_command_line: HashSet<String> = run
        .ids()
        .filter(|id| run.value_source(id.as_str()) == Some(ValueSource::CommandLine))
        .map(|id| id.as_str().to_string())
        .collect();
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config file {}", path.display()))?;
    let flags = flags_of(&text, &on_command_line)
        .with_context(|| format!("config file {}", path.display()))?;
    Ok(splice(argv, flags))
}

/// What a config file stands for on the command line.
#[derive(Debug, Default)]
struct FileArgs {
    /// Flags and their values.
    flags: Vec<OsString>,
    /// Input files (`inputs`).
    inputs: Vec<OsString>,
}

/// The `run` flags and inputs a config file's `text` stands for, leaving out the settings
/// whose ids are in `skip` (given on the command line).
fn flags_of(text: &str, skip: &HashSet<String>) -> Result<FileArgs> {
    let table: toml::Table = text.parse().map_err(|e| anyhow!("not valid TOML: {e}"))?;
    let cli = Cli::command();
    let run = cli
        .find_subcommand("run")
        .ok_or_else(|| anyhow!("no run command"))?;
    let mut flags = Vec::new();
    let mut inputs = Vec::new();
    for (key, value) in &table {
        let name = key.replace('_', "-");
        let arg = run
            .get_arguments()
            .find(|a| {
                a.get_long() == Some(name.as_str()) || (name == INPUTS_KEY && a.is_positional())
            })
            .ok_or_else(|| unknown_key(key, run))?;
        let id = arg.get_id().as_str();
        if id == CONFIG_FLAG {
            bail!("`{key}`: a config file cannot name another");
        }
        if skip.contains(id) {
            continue;
        }
        let repeats = matches!(arg.get_action(), ArgAction::Append);
        let switch = matches!(arg.get_action(), ArgAction::SetTrue);
        let values = values_of(key, value, repeats, switch)?;
        if arg.is_positional() {
            inputs.extend(values.into_iter().map(OsString::from));
            continue;
        }
        for v in values {
            flags.push(OsString::from(format!("--{name}")));
            if !switch {
                flags.push(OsString::from(v));
            }
        }
    }
    Ok(FileArgs { flags, inputs })
}

/// The values `key` stands for: one per occurrence of its flag (a switch: one empty value
/// when on, none when off).
fn values_of(key: &str, value: &toml::Value, repeats: bool, switch: bool) -> Result<Vec<String>> {
    use toml::Value as V;
    if switch {
        return match value {
            V::Boolean(true) => Ok(vec![String::new()]),
            V::Boolean(false) => Ok(Vec::new()),
            other => bail!("`{key}` is a switch: give true or false, not {other}"),
        };
    }
    let many = match value {
        V::Array(items) => items.iter().map(scalar).collect::<Result<Vec<_>>>(),
        V::Table(t) => t
            .iter()
            .map(|(k, v)| Ok(format!("{k}={}", scalar(v)?)))
            .collect::<Result<Vec<_>>>(),
        one => return Ok(vec![scalar(one).with_context(|| format!("`{key}`"))?]),
    }
    .with_context(|| format!("`{key}`"))?;
    if !repeats {
        bail!("`{key}` takes one value, not a list or table");
    }
    Ok(many)
}

/// A string, number, boolean or date as the text a flag would take.
fn scalar(value: &toml::Value) -> Result<String> {
    use toml::Value as V;
    Ok(match value {
        V::String(s) => s.clone(),
        V::Integer(i) => i.to_string(),
        V::Float(f) => f.to_string(),
        V::Boolean(b) => b.to_string(),
        V::Datetime(d) => d.to_string(),
        V::Array(_) | V::Table(_) => bail!("a value inside a list or table must be plain"),
    })
}

/// The error for a key that names no flag, listing the keys there are.
fn unknown_key(key: &str, run: &clap::Command) -> anyhow::Error {
    let mut known: Vec<&str> = run
        .get_arguments()
        .filter_map(|a| a.get_long())
        .filter(|l| *l != CONFIG_FLAG && *l != "help")
        .collect();
    known.push(INPUTS_KEY);
    known.sort_unstable();
    anyhow!(
        "unknown key `{key}` (keys are `run` flags: {})",
        known.join(", ")
    )
}

/// `argv` (`logpulse run ...`) with the file's flags placed right after `run`, before the
/// command line's own flags; the file's inputs go last, after `--`.
fn splice(argv: Vec<OsString>, file: FileArgs) -> Vec<OsString> {
    let run_at = argv
        .iter()
        .skip(1)
        .position(|a| a == "run")
        .map_or(1, |i| i + 1);
    let mut out = Vec::with_capacity(argv.len() + file.flags.len() + file.inputs.len() + 1);
    out.extend_from_slice(&argv[..=run_at]);
    out.extend(file.flags);
    out.extend_from_slice(&argv[run_at + 1..]);
    if !file.inputs.is_empty() {
        out.push("--".into());
        out.extend(file.inputs);
    }
    out
}

/// A note for the user: which config file the run took its settings from.
pub fn describe(path: &Path) -> String {
    format!("settings from {} (the command line's win)", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn flags(text: &str, skip: &[&str]) -> Result<Vec<String>> {
        let skip = skip.iter().map(|s| s.to_string()).collect();
        let file = flags_of(text, &skip)?;
        // As they would stand at the end of a command line.
        let inputs = (!file.inputs.is_empty()).then(|| OsString::from("--"));
        Ok(file
            .flags
            .into_iter()
            .chain(inputs)
            .chain(file.inputs)
            .map(|f| f.to_string_lossy().into_owned())
            .collect())
    }

    #[test]
    fn keys_become_the_flags_they_name() {
        let text = r#"
            window = "5m"
            top_n = 0
            top = 3
            quiet = true
            timings = false
            filter = ["status>=500", "path^=/api/"]
            inputs = ["a.log", "-b.log"]
            threshold-mb = 1.5
            [kafka-option]
            "security.protocol" = "SASL_SSL"
            "fetch.min.bytes" = 1
        "#;
        let err = flags(text, &[]).unwrap_err();
        assert!(
            format!("{err:#}").contains("unknown key `top_n`"),
            "{err:#}"
        );
        let got = flags(&text.replace("top_n = 0", ""), &[]).unwrap();
        let want = [
            "--window",
            "5m",
            "--top",
            "3",
            "--quiet",
            "--filter",
            "status>=500",
            "--filter",
            "path^=/api/",
            "--threshold-mb",
            "1.5",
            "--kafka-option",
            "security.protocol=SASL_SSL",
            "--kafka-option",
            "fetch.min.bytes=1",
            "--",
            "a.log",
            "-b.log",
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn command_line_settings_are_left_out() {
        let got = flags(
            "window = \"5m\"\ntop = 3\nfilter = [\"status>=500\"]",
            &["window", "filter"],
        );
        assert_eq!(got.unwrap(), ["--top", "3"]);
    }

    #[test]
    fn wrong_shapes_are_errors_naming_the_key() {
        for (text, says) in [
            ("window = [\"1m\", \"5m\"]", "`window` takes one value"),
            ("quiet = \"yes\"", "`quiet` is a switch"),
            ("filter = [[\"a\"]]", "`filter`"),
            ("config = \"other.toml\"", "cannot name another"),
            ("window = ", "not valid TOML"),
        ] {
            let err = format!("{:#}", flags(text, &[]).unwrap_err());
            assert!(err.contains(says), "{text:?}: {err}");
        }
    }

    #[test]
    fn splice_puts_file_flags_first_and_file_inputs_last() {
        let os = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        let got = splice(
            os(&["logpulse", "run", "--config", "j.toml", "-q"]),
            FileArgs {
                flags: os(&["--window", "5m"]),
                inputs: os(&["a.log"]),
            },
        );
        assert_eq!(
            got,
            os(&["logpulse", "run", "--window", "5m", "--config", "j.toml", "-q", "--", "a.log"])
        );
    }

    #[test]
    fn the_file_may_give_what_a_command_line_flag_requires() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("job.toml");
        std::fs::write(
            &path,
            "topic = \"logs\"\ngroup = \"g\"\nformat = \"common\"\n",
        )
        .expect("write");
        let argv: Vec<OsString> = ["logpulse", "run", "--kafka-brokers", "h:9092", "--config"]
            .iter()
            .map(OsString::from)
            .chain([path.clone().into_os_string()])
            .collect();
        let expanded = expand_argv(argv).expect("expanded");
        let cli = Cli::try_parse_from(expanded).expect("parses with the file's topic and group");
        let crate::args::Command::Run(run) = cli.command else {
            panic!("not run");
        };
        assert_eq!(run.kafka.topic.as_deref(), Some("logs"));
        assert_eq!(run.kafka.kafka_brokers.as_deref(), Some("h:9092"));
        assert_eq!(run.job.format, "common");
    }
}
