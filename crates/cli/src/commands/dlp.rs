//! `bot-bottle dlp scan`: the sidecar's detectors over files or standard
//! input, with the held secrets taken from the environment exactly as the
//! egress sidecar takes them (`EGRESS_TOKEN_*` plus the prefixes listed in
//! `BOT_BOTTLE_SENSITIVE_PREFIXES`).
//!
//! Exit codes: 0 nothing found, 1 something found, 2 an error (unreadable
//! file, bad detector list, bad rule file). `--rules` reads the engine's
//! rule format, or a gitleaks v8 config (by name `.gitleaks.toml` /
//! `gitleaks.toml`, or `--rules-format gitleaks`); the import's warnings go
//! to standard error. With `--redact` the scrubbed
//! input goes to standard output and the report to standard error.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use bot_bottle_dlp::{DetectorSet, Finding, HeldSecret, RuleSet, Scanner, ScannerConfig, Severity};
use serde::Serialize;

use crate::args::{DlpCommand, DlpScanArgs, RulesFormat, TextOrJson};
use crate::environment;
use crate::exit::{self, Failure};

pub fn run(command: DlpCommand) -> anyhow::Result<u8> {
    match command {
        DlpCommand::Scan(args) => scan(&args),
    }
}

/// An error with its sources, on one line.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// One input: a path, or standard input.
enum Input {
    Stdin,
    File(PathBuf),
}

impl Input {
    fn name(&self) -> String {
        match self {
            Input::Stdin => "-".to_string(),
            Input::File(path) => path.display().to_string(),
        }
    }

    fn read(&self) -> anyhow::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        match self {
            Input::Stdin => {
                std::io::stdin().read_to_end(&mut bytes).map_err(|error| {
                    Failure::usage(format!("cannot read standard input: {error}"))
                })?;
            }
            Input::File(path) => {
                bytes = std::fs::read(path).map_err(|error| {
                    Failure::usage(format!("cannot read {}: {error}", path.display()))
                })?;
            }
        }
        Ok(bytes)
    }
}

fn inputs(paths: &[PathBuf]) -> Vec<Input> {
    if paths.is_empty() {
        return vec![Input::Stdin];
    }
    paths
        .iter()
        .map(|path| {
            if path == Path::new("-") {
                Input::Stdin
            } else {
                Input::File(path.clone())
            }
        })
        .collect()
}

/// Whether a `--rules` file is read as a gitleaks config.
fn is_gitleaks(path: &Path, format: RulesFormat) -> bool {
    match format {
        RulesFormat::Gitleaks => true,
        RulesFormat::BotBottle => false,
        RulesFormat::Auto => path
            .file_name()
            .and_then(|name| name.to_str())
            .is_some_and(|name| name == ".gitleaks.toml" || name == "gitleaks.toml"),
    }
}

fn build_scanner(args: &DlpScanArgs) -> anyhow::Result<Scanner> {
    let detectors =
        DetectorSet::parse(&args.detectors).map_err(|error| Failure::usage(with_causes(&error)))?;
    let mut extra_rules = Vec::with_capacity(args.rules.len());
    for path in &args.rules {
        let text = std::fs::read_to_string(path).map_err(|error| {
            Failure::usage(format!("cannot read rule file {}: {error}", path.display()))
        })?;
        let name = path.display().to_string();
        let rules = if is_gitleaks(path, args.rules_format) {
            let import = RuleSet::from_gitleaks_toml(&text, &name)
                .map_err(|error| Failure::usage(with_causes(&error)))?;
            for warning in &import.warnings {
                eprintln!("warning: {name}: {warning}");
            }
            import.rules
        } else {
            RuleSet::from_toml_str(&text, &name)
                .map_err(|error| Failure::usage(with_causes(&error)))?
        };
        extra_rules.push(rules);
    }
    let held = environment::held_secrets()
        .into_iter()
        .map(|(name, value)| HeldSecret::new(name, value))
        .collect();
    Scanner::new(ScannerConfig {
        held,
        detectors,
        safe_values: Vec::new(),
        extra_rules,
    })
    .map_err(|error| Failure::usage(with_causes(&error)))
}

/// A finding as printed: where, what, and a masked preview only.
#[derive(Debug, Serialize)]
struct Reported<'a> {
    path: String,
    line: usize,
    column: usize,
    #[serde(flatten)]
    finding: &'a Finding,
}

/// 1-based line and column (in bytes) of `offset`.
fn line_and_column(bytes: &[u8], offset: usize) -> (usize, usize) {
    let before = &bytes[..offset.min(bytes.len())];
    let line = before.iter().filter(|byte| **byte == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|byte| *byte == b'\n')
        .map_or(0, |index| index + 1);
    (line, offset - line_start + 1)
}

fn text_line(reported: &Reported<'_>) -> String {
    let finding = reported.finding;
    let level = match finding.severity {
        Severity::Block => "",
        Severity::Warn => " warning",
    };
    format!(
        "{}:{}:{}:{} {} {} ({}) {}",
        reported.path,
        reported.line,
        reported.column,
        level,
        finding.detector,
        finding.rule,
        finding.encoding,
        finding.preview
    )
}

fn scan(args: &DlpScanArgs) -> anyhow::Result<u8> {
    let scanner = build_scanner(args)?;
    let mut reports: Vec<(String, Vec<u8>, Vec<Finding>)> = Vec::new();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for input in inputs(&args.paths) {
        let bytes = input.read()?;
        let findings = if args.redact {
            let findings = scanner.scan(&bytes).into_vec();
            let redaction = scanner.redact(&bytes);
            out.write_all(&redaction.bytes)
                .context("cannot write to standard output")?;
            findings
        } else {
            scanner.scan(&bytes).into_vec()
        };
        reports.push((input.name(), bytes, findings));
    }
    let reported: Vec<Reported<'_>> = reports
        .iter()
        .flat_map(|(path, bytes, findings)| {
            findings.iter().map(move |finding| {
                let (line, column) = line_and_column(bytes, finding.start);
                Reported {
                    path: path.clone(),
                    line,
                    column,
                    finding,
                }
            })
        })
        .collect();
    let report = match args.format {
        TextOrJson::Json => {
            let mut json =
                serde_json::to_string_pretty(&reported).context("cannot encode findings")?;
            json.push('\n');
            json
        }
        TextOrJson::Text => reported.iter().map(|line| text_line(line) + "\n").collect(),
    };
    if args.redact {
        out.flush().context("cannot write to standard output")?;
        std::io::stderr()
            .write_all(report.as_bytes())
            .context("cannot write to standard error")?;
    } else {
        out.write_all(report.as_bytes())
            .context("cannot write to standard output")?;
    }
    Ok(if reported.is_empty() {
        exit::SUCCESS
    } else {
        exit::BAD
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_columns_are_one_based() {
        assert_eq!(line_and_column(b"abc", 0), (1, 1));
        assert_eq!(line_and_column(b"ab\ncd\nef", 7), (3, 2));
        assert_eq!(line_and_column(b"ab\n", 3), (2, 1));
    }
}
