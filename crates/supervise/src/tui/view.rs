//! Drawing the TUI: one pure function of the [`App`] and "now" (ages are
//! measured against it, so a snapshot test pins it).
//!
//! ```text
//!  title: counts
//! ┌ proposals ─────────────────────────────┐  pending first, newest on top;
//! │> pending 3m dev egress-allow allow …   │  malformed files last
//! └────────────────────────────────────────┘
//! ┌ details ───────────────────────────────┐  per kind; or the modify editor
//! └────────────────────────────────────────┘
//! ┌ prompt ────────────────────────────────┐  only while typing a reason
//! └────────────────────────────────────────┘
//!  status                                     the last outcome
//!  help                                       always: the keys offered now
//! ```
//!
//! Every string that came from a queue file goes through
//! [`printable`] before it reaches a widget.

use std::path::Path;
use std::time::Duration;

use bot_bottle_manifest::model::Route;
use bot_bottle_queue::model::describe_route;
use bot_bottle_queue::{
    BadEntry, Decision, Entry, EntryState, Payload, ProposalKind, Response, ResponseFile, Timestamp,
};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row as TableRow, Table, TableState, Wrap};

use crate::escape::printable;
use crate::granted_route::route_yaml;
use crate::tui::app::{App, Level, Mode, Prompt, Purpose, RouteEditor, Row};

/// Width of the labels in the detail pane.
const LABEL_WIDTH: usize = 10;
/// The widest bottle name shown in the list before it is cut.
const BOTTLE_COLUMN_MAX: usize = 16;
/// Lines of the list that are not rows: its borders and the header.
const LIST_CHROME: u16 = 3;
/// Height of the prompt box: borders, the question, the input, a message.
const PROMPT_HEIGHT: u16 = 5;

/// Draw the whole screen.
pub fn render(frame: &mut Frame<'_>, app: &App, now: Timestamp) {
    let prompt_height = if matches!(app.mode(), Mode::Prompt(_)) {
        PROMPT_HEIGHT
    } else {
        0
    };
    // The list takes what its rows need, up to two fifths of the screen;
    // the details get the rest.
    let list_rows = u16::try_from(app.rows().len().max(1)).unwrap_or(u16::MAX);
    let list_height = list_rows
        .saturating_add(LIST_CHROME)
        .min(frame.area().height.saturating_mul(2) / 5)
        .max(LIST_CHROME + 1);
    // The status and help lines first, so a small terminal squeezes the
    // panes, never the help.
    let [body, status, help] = Layout::vertical([
        Constraint::Fill(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    let [title, list, detail, prompt] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(list_height),
        Constraint::Min(4),
        Constraint::Length(prompt_height),
    ])
    .areas(body);
    frame.render_widget(Paragraph::new(title_line(app)), title);
    render_list(frame, app, list, now);
    match app.mode() {
        Mode::Edit(editor) => render_editor(frame, editor, detail),
        Mode::Browse | Mode::Prompt(_) => {
            let lines = match app.selected() {
                Some(row) => detail_lines(row, now),
                None if app.loaded() => empty_lines(),
                None => Vec::new(),
            };
            // Scrolled no further than the last screenful (counting lines
            // before wrapping, so a wrapped tail may need one more page).
            let visible = usize::from(detail.height.saturating_sub(2));
            let most = u16::try_from(lines.len().saturating_sub(visible)).unwrap_or(u16::MAX);
            frame.render_widget(
                Paragraph::new(lines)
                    .wrap(Wrap { trim: false })
                    .scroll((app.detail_scroll().min(most), 0))
                    .block(Block::bordered().title(" details ")),
                detail,
            );
        }
    }
    if let Mode::Prompt(open) = app.mode() {
        render_prompt(frame, open, prompt);
    }
    if let Some(message) = app.status() {
        let style = match message.level {
            Level::Info => Style::new().fg(Color::Green),
            Level::Warning => Style::new().fg(Color::Yellow),
            Level::Error => Style::new().fg(Color::Red),
        };
        frame.render_widget(
            Paragraph::new(Line::styled(format!(" {}", message.text), style)),
            status,
        );
    }
    frame.render_widget(Paragraph::new(help_line(app)), help);
}

fn title_line(app: &App) -> Line<'static> {
    let count = |state| {
        app.entries()
            .iter()
            .filter(|entry| entry.state == state)
            .count()
    };
    let mut text = format!(
        " bot-bottle supervise · {} pending · {} answered",
        count(EntryState::Pending),
        count(EntryState::Answered)
    );
    let malformed = app.malformed().len();
    if malformed > 0 {
        text.push_str(&format!(
            " · {malformed} malformed {}",
            if malformed == 1 { "file" } else { "files" }
        ));
    }
    Line::styled(text, Style::new().add_modifier(Modifier::BOLD))
}

fn render_list(frame: &mut Frame<'_>, app: &App, area: Rect, now: Timestamp) {
    let block = Block::bordered().title(" proposals ");
    let rows = app.rows();
    if rows.is_empty() {
        let text = if app.loaded() {
            "no proposals: waiting for the sidecars to file one"
        } else {
            "reading the queues…"
        };
        frame.render_widget(Paragraph::new(format!(" {text}")).block(block), area);
        return;
    }
    let cells: Vec<[String; 5]> = rows.iter().map(|row| list_cells(*row, now)).collect();
    let bottle_width = cells
        .iter()
        .map(|cells| cells[2].chars().count())
        .chain([6])
        .max()
        .unwrap_or(6)
        .min(BOTTLE_COLUMN_MAX);
    let table_rows = cells.into_iter().zip(&rows).map(|(cells, row)| {
        let style = match row {
            Row::Malformed(_) => Style::new().fg(Color::Red),
            Row::Proposal(entry) if entry.state != EntryState::Pending => {
                Style::new().fg(Color::DarkGray)
            }
            Row::Proposal(_) => Style::new(),
        };
        TableRow::new(cells.map(Cell::from)).style(style)
    });
    let widths = [
        Constraint::Length(9),
        Constraint::Length(4),
        Constraint::Length(u16::try_from(bottle_width).unwrap_or(6)),
        Constraint::Length(18),
        Constraint::Fill(1),
    ];
    let table = Table::new(table_rows, widths)
        .header(
            TableRow::new(["STATE", "AGE", "BOTTLE", "KIND", "SUMMARY"])
                .style(Style::new().add_modifier(Modifier::BOLD)),
        )
        .block(block)
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED))
        .highlight_symbol("> ");
    let mut state = TableState::default().with_selected(Some(app.selected_index()));
    frame.render_stateful_widget(table, area, &mut state);
}

fn list_cells(row: Row<'_>, now: Timestamp) -> [String; 5] {
    match row {
        Row::Proposal(entry) => {
            let state = match entry.valid_response() {
                Some(response) if entry.state == EntryState::Answered => {
                    short_decision(&response.decision).to_string()
                }
                _ => entry.state.as_str().to_string(),
            };
            [
                state,
                age(entry.proposal.created_at.age_at(now)),
                cut(&printable(&entry.proposal.bottle), BOTTLE_COLUMN_MAX),
                entry.proposal.kind().to_string(),
                printable(&entry.proposal.payload.summary()),
            ]
        }
        Row::Malformed(bad) => [
            "malformed".to_string(),
            "-".to_string(),
            cut(&printable(&queue_name(&bad.path)), BOTTLE_COLUMN_MAX),
            "-".to_string(),
            printable(&format!("{}: {}", file_name(&bad.path), bad.reason)),
        ],
    }
}

fn short_decision(decision: &Decision) -> &'static str {
    match decision {
        Decision::Approve => "approved",
        Decision::ApproveWithModification { .. } => "modified",
        Decision::Reject => "rejected",
        Decision::Answer { .. } => "answered",
        Decision::Expired => "expired",
    }
}

/// `42s`, `5m`, `3h`, `2d`.
pub fn age(age: Duration) -> String {
    let seconds = age.as_secs();
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3_600 => format!("{}m", seconds / 60),
        3_600..86_400 => format!("{}h", seconds / 3_600),
        _ => format!("{}d", seconds / 86_400),
    }
}

fn cut(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut short: String = text.chars().take(width.saturating_sub(1)).collect();
    short.push('…');
    short
}

/// The bottle a bad file belongs to: its queue directory's name (the
/// file's parent; `processed/` counts as its queue).
fn queue_name(path: &Path) -> String {
    let queue = path.parent().unwrap_or(path);
    let queue = if queue.file_name().is_some_and(|name| name == "processed") {
        queue.parent().unwrap_or(queue)
    } else {
        queue
    };
    queue
        .file_name()
        .map_or_else(String::new, |name| name.to_string_lossy().into_owned())
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |name| name.to_string_lossy().into_owned(),
    )
}

/// How a kind is answered, in a few words (asked of the kind).
fn how_to_answer(kind: ProposalKind) -> &'static str {
    if kind.takes_text_answer() {
        "answer in words, or reject"
    } else if kind.requires_reason_to_approve() {
        "report only: approve with a reason, or reject"
    } else if kind.allows_modify() {
        "approve, modify the route, or reject"
    } else {
        "approve or reject"
    }
}

fn detail_lines(row: Row<'_>, now: Timestamp) -> Vec<Line<'static>> {
    match row {
        Row::Proposal(entry) => proposal_lines(entry, now),
        Row::Malformed(bad) => malformed_lines(bad),
    }
}

/// What the details pane says while there is nothing to show.
fn empty_lines() -> Vec<Line<'static>> {
    [
        "Proposals appear here as the sidecars file them:",
        "  egress-allow, egress-block  the agent asks for a route, or to drop one",
        "  egress-token-allow          egress held a request carrying a token",
        "  gitleaks-allow              git-gate held a push carrying a secret",
        "  capability-block            the agent says what it is stuck on",
        "",
        "The terminal bell rings when one arrives.",
    ]
    .into_iter()
    .map(Line::raw)
    .collect()
}

fn malformed_lines(bad: &BadEntry) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    field(
        &mut lines,
        "malformed",
        &printable(&bad.path.display().to_string()),
    );
    field(&mut lines, "problem", &printable(&bad.reason.to_string()));
    lines.push(Line::default());
    lines.push(Line::raw(
        "This file was skipped; nothing in it can be answered. Fix or remove it.",
    ));
    lines
}

fn proposal_lines(entry: &Entry, now: Timestamp) -> Vec<Line<'static>> {
    let proposal = &entry.proposal;
    let kind = proposal.kind();
    let mut lines = Vec::new();
    field(
        &mut lines,
        "kind",
        &format!("{kind} ({})", how_to_answer(kind)),
    );
    field(&mut lines, "bottle", &printable(&proposal.bottle));
    field(
        &mut lines,
        "created",
        &format!(
            "{} ({} ago)",
            proposal.created_at,
            age(proposal.created_at.age_at(now))
        ),
    );
    lines.push(Line::default());
    match &proposal.payload {
        Payload::EgressAllow(ask) => {
            multiline_field(&mut lines, "route", &route_text(&ask.route));
            multiline_field(&mut lines, "reason", &ask.reason);
        }
        Payload::EgressBlock(ask) => {
            field(&mut lines, "host", &printable(&ask.host));
            match &ask.route {
                Some(route) => multiline_field(&mut lines, "narrow to", &route_text(route)),
                None => field(
                    &mut lines,
                    "narrow to",
                    "(nothing: drop every route for the host)",
                ),
            }
            multiline_field(&mut lines, "reason", &ask.reason);
        }
        Payload::EgressTokenAllow(report) => {
            field(&mut lines, "host", &printable(&report.host));
            field(&mut lines, "method", &printable(&report.method));
            field(&mut lines, "path", &printable(&report.path));
            field(
                &mut lines,
                "detector",
                &printable(&format!("{} ({})", report.detector, report.rule)),
            );
            field(&mut lines, "value", &printable(&report.preview));
            multiline_field(&mut lines, "context", &report.context);
        }
        Payload::GitleaksAllow(report) => {
            field(&mut lines, "repo", &printable(&report.repo));
            field(&mut lines, "ref", &printable(&report.reference));
            field(&mut lines, "commit", &printable(&report.commit));
            field(&mut lines, "file", &printable(&report.file));
            field(&mut lines, "line", &report.line.to_string());
            field(&mut lines, "rule", &printable(&report.rule));
            multiline_field(&mut lines, "snippet", &report.snippet);
        }
        Payload::CapabilityBlock(block) => {
            multiline_field(&mut lines, "the agent", &block.text);
        }
    }
    match &entry.response {
        Some(ResponseFile::Valid(response)) => {
            lines.push(Line::default());
            response_lines(&mut lines, response);
        }
        Some(ResponseFile::Bad(bad)) => {
            lines.push(Line::default());
            field(
                &mut lines,
                "response",
                &printable(&format!("malformed: {}", bad.reason)),
            );
        }
        None => {}
    }
    lines.push(Line::default());
    field(&mut lines, "proposal", proposal.id.as_str());
    field(&mut lines, "state", entry.state.as_str());
    field(
        &mut lines,
        "queue",
        &printable(&entry.queue.display().to_string()),
    );
    lines
}

fn response_lines(lines: &mut Vec<Line<'static>>, response: &Response) {
    field(lines, "decision", response.decision.kind().as_str());
    match &response.decision {
        Decision::ApproveWithModification { route } => {
            multiline_field(lines, "granted", &route_text(route));
        }
        Decision::Answer { text } => multiline_field(lines, "answer", text),
        _ => {}
    }
    if let Some(reason) = &response.reason {
        multiline_field(lines, "reason", reason);
    }
    if let Some(by) = &response.answered_by {
        field(lines, "by", &printable(by));
    }
    field(lines, "answered", &response.answered_at.to_string());
}

/// A route as YAML (unescaped: [`multiline_field`] escapes each line).
fn route_text(route: &Route) -> String {
    route_yaml(route).map_or_else(|| describe_route(route), |yaml| yaml.trim_end().to_string())
}

fn label(name: &str) -> Span<'static> {
    Span::styled(
        format!("{name:<LABEL_WIDTH$} "),
        Style::new().add_modifier(Modifier::BOLD),
    )
}

/// One `label value` line; `value` must already be escaped.
fn field(lines: &mut Vec<Line<'static>>, name: &str, value: &str) {
    lines.push(Line::from(vec![label(name), Span::raw(value.to_string())]));
}

/// A value that may hold line breaks: each line escaped, continuation lines
/// indented under the first.
fn multiline_field(lines: &mut Vec<Line<'static>>, name: &str, value: &str) {
    for (index, text) in value.split('\n').enumerate() {
        let head = if index == 0 {
            label(name)
        } else {
            Span::raw(" ".repeat(LABEL_WIDTH + 1))
        };
        lines.push(Line::from(vec![head, Span::raw(printable(text))]));
    }
}

fn render_editor(frame: &mut Frame<'_>, editor: &RouteEditor, area: Rect) {
    // An egress-block's route is what remains of the host; an
    // egress-allow's is what is granted.
    let what = if editor.target.kind == ProposalKind::EgressBlock {
        "the route that should remain"
    } else {
        "the route to grant"
    };
    let title = format!(
        " {what}, as YAML: {} from {} ",
        editor.target.kind, editor.target.bottle
    );
    let block = Block::bordered().title(title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    // Messages wrap: count the lines they take at this width.
    let width = usize::from(inner.width.max(1));
    let error_rows: usize = editor
        .error
        .iter()
        .map(|line| Span::raw(line.as_str()).width().max(1).div_ceil(width))
        .sum();
    let error_height = u16::try_from(error_rows).unwrap_or(u16::MAX);
    let notice_height = u16::from(editor.target.answered_elsewhere);
    let [notice, text, errors] = Layout::vertical([
        Constraint::Length(notice_height),
        Constraint::Fill(1),
        Constraint::Length(error_height),
    ])
    .areas(inner);
    if editor.target.answered_elsewhere {
        frame.render_widget(
            Paragraph::new(Line::styled(
                "answered elsewhere meanwhile: submitting will be refused",
                Style::new().fg(Color::Yellow),
            )),
            notice,
        );
    }
    let lines: Vec<Line<'static>> = editor
        .text
        .lines()
        .iter()
        .map(|line| Line::raw(printable(line)))
        .collect();
    let (row, before) = editor.text.cursor();
    // Keep the cursor line in view.
    let scroll = u16::try_from(row)
        .unwrap_or(u16::MAX)
        .saturating_sub(text.height.saturating_sub(1));
    frame.render_widget(Paragraph::new(lines).scroll((scroll, 0)), text);
    let error_lines: Vec<Line<'static>> = editor
        .error
        .iter()
        .map(|line| Line::styled(line.clone(), Style::new().fg(Color::Red)))
        .collect();
    frame.render_widget(
        Paragraph::new(error_lines).wrap(Wrap { trim: false }),
        errors,
    );
    let column = u16::try_from(Span::raw(printable(before)).width()).unwrap_or(u16::MAX);
    let line = u16::try_from(row)
        .unwrap_or(u16::MAX)
        .saturating_sub(scroll);
    frame.set_cursor_position(Position::new(
        text.x.saturating_add(column),
        text.y.saturating_add(line),
    ));
}

fn render_prompt(frame: &mut Frame<'_>, prompt: &Prompt, area: Rect) {
    let target = &prompt.target;
    let question = match &prompt.purpose {
        Purpose::Approve {
            reason_required: true,
        } => format!(
            "Approve this {}: reason (required: it is report-only, say why letting it through is safe)",
            target.kind
        ),
        Purpose::Approve {
            reason_required: false,
        } => format!(
            "Approve this {}: reason (optional; Enter approves)",
            target.kind
        ),
        Purpose::ApproveModified { route } => format!(
            "Grant {} instead: reason (optional; Enter approves)",
            printable(&describe_route(route))
        ),
        Purpose::Reject => format!(
            "Reject this {}: reason (optional; Enter rejects)",
            target.kind
        ),
        Purpose::Answer => "Answer in words: what the agent receives (Enter sends)".to_string(),
    };
    let block = Block::bordered().title(format!(" {} from {} ", target.id, target.bottle));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [question_area, input_area, message_area] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(inner);
    frame.render_widget(Paragraph::new(question), question_area);
    let typed = printable(prompt.input.text());
    frame.render_widget(Paragraph::new(format!("> {typed}")), input_area);
    let message = match (&prompt.error, target.answered_elsewhere) {
        (Some(error), _) => Some(Line::styled(error.clone(), Style::new().fg(Color::Red))),
        (None, true) => Some(Line::styled(
            "answered elsewhere meanwhile: submitting will be refused",
            Style::new().fg(Color::Yellow),
        )),
        (None, false) => None,
    };
    if let Some(message) = message {
        frame.render_widget(Paragraph::new(message), message_area);
    }
    let before = printable(prompt.input.before_cursor());
    let column = u16::try_from(Span::raw(before).width() + 2).unwrap_or(u16::MAX);
    frame.set_cursor_position(Position::new(
        input_area.x.saturating_add(column),
        input_area.y,
    ));
}

fn help_line(app: &App) -> Line<'static> {
    let mut spans = Vec::new();
    for offer in app.offers() {
        spans.push(Span::raw(" "));
        spans.push(Span::styled(
            offer.key,
            Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED),
        ));
        spans.push(Span::raw(format!(" {} ", offer.label)));
    }
    Line::from(spans)
}
