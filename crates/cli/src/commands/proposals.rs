//! `bot-bottle proposals list|show|approve|reject|answer`: the operator's
//! side of the approval queue, for scripts (the TUI is `bot-bottle supervise`).
//!
//! Which queues: `--queue DIR` names one bottle's queue directory; without it
//! every bottle's queue under `$XDG_STATE_HOME/bot-bottle/queues/<bottle>/`
//! is read (see `bot_bottle_queue::layout`). An id may be given in full or as
//! a unique prefix.
//!
//! This command only writes responses. Archiving into `processed/` is left
//! to the sidecar that acts on the answer (see the queue crate's docs).
//!
//! Text printed from queue files (the agent's words, route fields, file
//! names) has control and invisible formatting characters escaped, so a
//! proposal cannot drive the operator's terminal.
//!
//! Exit codes (`crate::exit`):
//! - 0: done (`list` also exits 0 when it reports malformed files);
//! - 1: no such proposal (the message names the id and the queues
//!   searched), an ambiguous prefix, already answered or processed, a
//!   malformed proposal file;
//! - 2: usage — a required `--reason` missing, `--modify` on a kind that
//!   cannot be modified, `approve` on a kind answered in words or `answer`
//!   on one that is not, an unreadable or invalid `--modify` file, a
//!   `--queue` that is not a directory, no state directory to look in.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use bot_bottle_manifest::model::Route;
use bot_bottle_queue::model::describe_route;
use bot_bottle_queue::{
    BadEntry, Decision, DecisionError, Entry, Listing, Payload, Proposal, ProposalId, ProposalKind,
    Queue, QueueError, Response, ResponseFile, Scope, discover_queues, find, list_queues,
};
use bot_bottle_supervise::escape::{printable, printable_lines};
use bot_bottle_supervise::granted_route::parse_granted_route;
use serde_json::{Value, json};

use crate::args::{ProposalsCommand, QueueArgs, TextOrJson};
use crate::environment;
use crate::exit::{Failure, SUCCESS};

/// The longest summary shown in a `list` row; `show` has the rest.
const SUMMARY_WIDTH: usize = 72;

pub fn run(command: ProposalsCommand) -> anyhow::Result<u8> {
    match command {
        ProposalsCommand::List { queue, format, all } => list(&queue, format, all),
        ProposalsCommand::Show { id, queue, format } => show(&id, &queue, format),
        ProposalsCommand::Approve {
            id,
            queue,
            reason,
            modify,
        } => approve(&id, &queue, reason, modify.as_deref()),
        ProposalsCommand::Reject { id, queue, reason } => {
            answer(&id, &queue, Decision::Reject, reason)
        }
        ProposalsCommand::Answer { id, queue, text } => {
            answer(&id, &queue, Decision::Answer { text }, None)
        }
    }
}

/// The queues to read, and the place they were looked for (for messages).
struct Queues {
    queues: Vec<Queue>,
    looked_in: PathBuf,
}

/// The queue `--queue DIR` names; a usage error when it is not one.
pub(crate) fn open_queue_arg(dir: &Path) -> anyhow::Result<Queue> {
    Queue::open(dir)
        .map_err(|error| Failure::usage(format!("--queue {}: {}", dir.display(), chain(&error))))
}

/// The state directory every bottle's queue lives under.
pub(crate) fn state_dir() -> anyhow::Result<PathBuf> {
    environment::state_dir().ok_or_else(|| {
        Failure::usage(
            "cannot find the state directory: set XDG_STATE_HOME or HOME, or pass --queue DIR",
        )
    })
}

fn queues(args: &QueueArgs) -> anyhow::Result<Queues> {
    if let Some(dir) = &args.queue {
        return Ok(Queues {
            queues: vec![open_queue_arg(dir)?],
            looked_in: dir.clone(),
        });
    }
    let state = state_dir()?;
    let mut queues = Vec::new();
    for dir in discover_queues(&state)? {
        queues.push(Queue::open(dir)?);
    }
    Ok(Queues {
        queues,
        looked_in: state.join(bot_bottle_queue::layout::QUEUES_DIR),
    })
}

/// An error and its causes on one line, as `main` prints them.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let _ = write!(text, ": {cause}");
        source = cause.source();
    }
    text
}

fn list(args: &QueueArgs, format: TextOrJson, all: bool) -> anyhow::Result<u8> {
    let Queues { queues, looked_in } = queues(args)?;
    let scope = if all { Scope::All } else { Scope::Active };
    let listing = list_queues(&queues, scope);
    let text = match format {
        TextOrJson::Json => {
            let value = json!({
                "queues": queues.iter().map(|queue| queue.dir().display().to_string()).collect::<Vec<_>>(),
                "proposals": listing.entries.iter().map(entry_json).collect::<Vec<_>>(),
                "bad": listing.bad.iter().map(bad_json).collect::<Vec<_>>(),
            });
            format!("{}\n", serde_json::to_string_pretty(&value)?)
        }
        TextOrJson::Text => list_text(&listing, &queues, &looked_in),
    };
    print!("{text}");
    Ok(SUCCESS)
}

fn list_text(listing: &Listing, queues: &[Queue], looked_in: &Path) -> String {
    let mut out = String::new();
    if queues.is_empty() {
        let _ = writeln!(out, "no queues in {}", looked_in.display());
        return out;
    }
    if listing.entries.is_empty() {
        let _ = writeln!(out, "no proposals");
    } else {
        let header = [
            "ID", "STATE", "DECISION", "BOTTLE", "KIND", "CREATED", "SUMMARY",
        ];
        let rows: Vec<[String; 7]> = listing
            .entries
            .iter()
            .map(|entry| {
                [
                    entry.proposal.id.to_string(),
                    entry.state.as_str().to_string(),
                    decision_word(entry),
                    printable(&entry.proposal.bottle),
                    entry.proposal.kind().to_string(),
                    created(&entry.proposal),
                    shorten(&printable(&entry.proposal.payload.summary()), SUMMARY_WIDTH),
                ]
            })
            .collect();
        let mut widths = header.map(str::len);
        for row in &rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut line = |cells: &[&str]| {
            let mut text = String::new();
            for (index, cell) in cells.iter().enumerate() {
                if index + 1 == cells.len() {
                    text.push_str(cell);
                } else {
                    let _ = write!(text, "{cell:<width$}  ", width = widths[index]);
                }
            }
            let _ = writeln!(out, "{}", text.trim_end());
        };
        line(&header);
        for row in &rows {
            line(&row.each_ref().map(String::as_str));
        }
    }
    if !listing.bad.is_empty() {
        let _ = writeln!(
            out,
            "\n{} malformed {} skipped:",
            listing.bad.len(),
            if listing.bad.len() == 1 {
                "file"
            } else {
                "files"
            }
        );
        for bad in &listing.bad {
            let _ = writeln!(out, "  {}", printable(&bad.to_string()));
        }
    }
    out
}

fn decision_word(entry: &Entry) -> String {
    match &entry.response {
        None => "-".to_string(),
        Some(ResponseFile::Valid(response)) => response.decision.kind().to_string(),
        Some(ResponseFile::Bad(_)) => "(malformed)".to_string(),
    }
}

/// `2026-11-28 10:27:00` (UTC).
fn created(proposal: &Proposal) -> String {
    let stamp = proposal.created_at.to_rfc3339();
    format!("{} {}", &stamp[..10], &stamp[11..19])
}

fn shorten(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut short: String = text.chars().take(width.saturating_sub(1)).collect();
    short.push('…');
    short
}

fn entry_json(entry: &Entry) -> Value {
    let (response, response_error) = match &entry.response {
        None => (Value::Null, Value::Null),
        Some(ResponseFile::Valid(response)) => (
            serde_json::to_value(response).unwrap_or(Value::Null),
            Value::Null,
        ),
        Some(ResponseFile::Bad(bad)) => (Value::Null, bad_json(bad)),
    };
    json!({
        "queue": entry.queue.display().to_string(),
        "state": entry.state,
        "proposal": serde_json::to_value(&entry.proposal).unwrap_or(Value::Null),
        "response": response,
        "response_error": response_error,
    })
}

fn bad_json(bad: &BadEntry) -> Value {
    json!({ "path": bad.path.display().to_string(), "reason": bad.reason.to_string() })
}

fn find_entry(id: &str, args: &QueueArgs) -> anyhow::Result<Entry> {
    let Queues { queues, looked_in } = queues(args)?;
    if queues.is_empty() {
        anyhow::bail!(
            "no proposal {id}: there are no queues in {}",
            looked_in.display()
        );
    }
    find(&queues, id).map_err(|error| match error {
        QueueError::InvalidId(_) => Failure::usage(chain(&error)),
        other => anyhow::Error::new(other),
    })
}

fn show(id: &str, args: &QueueArgs, format: TextOrJson) -> anyhow::Result<u8> {
    let entry = find_entry(id, args)?;
    match format {
        TextOrJson::Json => println!("{}", serde_json::to_string_pretty(&entry_json(&entry))?),
        TextOrJson::Text => print!("{}", show_text(&entry)),
    }
    Ok(SUCCESS)
}

/// How a kind is answered, in a few words.
fn how_to_answer(kind: ProposalKind) -> &'static str {
    if kind.takes_text_answer() {
        "answer --text TEXT, or reject"
    } else if kind.requires_reason_to_approve() {
        "report only: approve --reason TEXT, or reject"
    } else if kind.allows_modify() {
        "approve, approve --modify ROUTE.yaml, or reject"
    } else {
        "approve or reject"
    }
}

fn show_text(entry: &Entry) -> String {
    let proposal = &entry.proposal;
    let kind = proposal.kind();
    let fields: Vec<(&str, String)> = vec![
        ("proposal", proposal.id.to_string()),
        ("bottle", printable(&proposal.bottle)),
        ("kind", format!("{kind} ({})", how_to_answer(kind))),
        ("state", entry.state.as_str().to_string()),
        ("created", proposal.created_at.to_string()),
        ("queue", printable(&entry.queue.display().to_string())),
    ];
    let mut details: Vec<(&str, String)> = Vec::new();
    match &proposal.payload {
        Payload::EgressAllow(ask) => {
            details.push(("route", route_yaml(&ask.route)));
            details.push(("reason", printable_lines(&ask.reason, INDENT)));
        }
        Payload::EgressBlock(ask) => {
            details.push(("host", printable(&ask.host)));
            details.push((
                "route",
                ask.route.as_ref().map_or_else(
                    || "(none: drop every route for the host)".to_string(),
                    route_yaml,
                ),
            ));
            details.push(("reason", printable_lines(&ask.reason, INDENT)));
        }
        Payload::EgressTokenAllow(report) => {
            details.push((
                "request",
                printable(&format!("{} {}{}", report.method, report.host, report.path)),
            ));
            details.push(("detector", printable(&report.detector)));
            details.push(("rule", printable(&report.rule)));
            details.push(("value", printable(&report.preview)));
            details.push(("context", printable_lines(&report.context, INDENT)));
        }
        Payload::GitleaksAllow(report) => {
            details.push(("repo", printable(&report.repo)));
            details.push(("ref", printable(&report.reference)));
            details.push(("commit", printable(&report.commit)));
            details.push((
                "file",
                printable(&format!("{}:{}", report.file, report.line)),
            ));
            details.push(("rule", printable(&report.rule)));
            details.push(("snippet", printable_lines(&report.snippet, INDENT)));
        }
        Payload::CapabilityBlock(block) => {
            details.push(("text", printable_lines(&block.text, INDENT)));
        }
    }
    let mut out = String::new();
    write_fields(&mut out, &fields);
    out.push('\n');
    write_fields(&mut out, &details);
    match &entry.response {
        Some(ResponseFile::Valid(response)) => {
            out.push('\n');
            write_fields(&mut out, &response_fields(response));
        }
        Some(ResponseFile::Bad(bad)) => {
            let _ = writeln!(
                out,
                "\nresponse  malformed: {}",
                printable(&bad.to_string())
            );
        }
        None => {
            let id = &proposal.id;
            let _ = writeln!(out, "\nto answer:");
            if kind.takes_text_answer() {
                let _ = writeln!(out, "  bot-bottle proposals answer {id} --text TEXT");
            } else if kind.requires_reason_to_approve() {
                let _ = writeln!(out, "  bot-bottle proposals approve {id} --reason TEXT");
            } else {
                let _ = writeln!(out, "  bot-bottle proposals approve {id}");
                if kind.allows_modify() {
                    let _ = writeln!(
                        out,
                        "  bot-bottle proposals approve {id} --modify ROUTE.yaml"
                    );
                }
            }
            let _ = writeln!(out, "  bot-bottle proposals reject {id} [--reason TEXT]");
        }
    }
    out
}

/// Where continuation lines of a field start (after `label` padding).
const INDENT: &str = "          ";

fn write_fields(out: &mut String, fields: &[(&str, String)]) {
    for (label, value) in fields {
        let _ = writeln!(out, "{label:<9} {value}");
    }
}

fn response_fields(response: &Response) -> Vec<(&'static str, String)> {
    let mut fields = Vec::new();
    fields.push(("decision", response.decision.kind().to_string()));
    match &response.decision {
        Decision::ApproveWithModification { route } => fields.push(("granted", route_yaml(route))),
        Decision::Answer { text } => fields.push(("answer", printable_lines(text, INDENT))),
        _ => {}
    }
    if let Some(reason) = &response.reason {
        fields.push(("reason", printable_lines(reason, INDENT)));
    }
    if let Some(by) = &response.answered_by {
        fields.push(("by", printable(by)));
    }
    fields.push(("answered", response.answered_at.to_string()));
    fields
}

/// A route as YAML, continuation lines indented under its label.
fn route_yaml(route: &Route) -> String {
    match serde_saphyr::to_string(route) {
        Ok(yaml) => printable_lines(yaml.trim_end(), INDENT),
        Err(_) => printable(&describe_route(route)),
    }
}

fn read_route(path: &Path) -> anyhow::Result<Route> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| Failure::usage(format!("--modify {}: {error}", path.display())))?;
    parse_granted_route(&text)
        .map_err(|error| Failure::usage(format!("--modify {}: {error}", path.display())))
}

fn approve(
    id: &str,
    args: &QueueArgs,
    reason: Option<String>,
    modify: Option<&Path>,
) -> anyhow::Result<u8> {
    let entry = find_entry(id, args)?;
    let decision = match modify {
        None => Decision::Approve,
        Some(path) => {
            let kind = entry.proposal.kind();
            if !kind.allows_modify() {
                return Err(decision_failure(
                    &entry.proposal.id,
                    DecisionError::ModifyNotAllowed { kind },
                ));
            }
            Decision::ApproveWithModification {
                route: read_route(path)?,
            }
        }
    };
    write_answer(&entry, decision, reason)
}

fn answer(
    id: &str,
    args: &QueueArgs,
    decision: Decision,
    reason: Option<String>,
) -> anyhow::Result<u8> {
    let entry = find_entry(id, args)?;
    write_answer(&entry, decision, reason)
}

fn decision_failure(id: &ProposalId, source: DecisionError) -> anyhow::Error {
    Failure::usage(chain(&QueueError::Decision {
        id: id.clone(),
        source,
    }))
}

fn write_answer(entry: &Entry, decision: Decision, reason: Option<String>) -> anyhow::Result<u8> {
    let queue = Queue::open(&entry.queue)?;
    let id = &entry.proposal.id;
    let response = match queue.answer(id, decision, reason, environment::operator_name()) {
        Ok(response) => response,
        Err(QueueError::Decision { id, source }) => return Err(decision_failure(&id, source)),
        Err(error) => return Err(error.into()),
    };
    let verb = match &response.decision {
        Decision::Approve => "approved".to_string(),
        Decision::ApproveWithModification { route } => {
            format!(
                "approved as modified ({})",
                printable(&describe_route(route))
            )
        }
        Decision::Reject => "rejected".to_string(),
        Decision::Answer { .. } => "answered".to_string(),
        Decision::Expired => "expired".to_string(),
    };
    println!(
        "{verb} {id} ({}, bottle {}): {}",
        entry.proposal.kind(),
        printable(&entry.proposal.bottle),
        shorten(&printable(&entry.proposal.payload.summary()), SUMMARY_WIDTH)
    );
    Ok(SUCCESS)
}
