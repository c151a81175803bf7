//! The TUI's state machine: what is listed and selected, which prompt is
//! open, and what each key does. Pure — no files, no terminal, no clock:
//! the loop in `run` feeds it listings ([`App::refresh`]), keys
//! ([`App::on_key`]) and the outcome of the answers it asked for
//! ([`App::on_answer`]), so every behaviour here is a unit test.
//!
//! Which actions a proposal offers is asked of its [`ProposalKind`]
//! (`allows`, `requires_reason_to_approve`); the app never decides a rule
//! itself, and the queue checks the answer again when it is written.

use std::collections::HashSet;
use std::path::PathBuf;

use bot_bottle_manifest::model::Route;
use bot_bottle_queue::{
    BadEntry, Decision, DecisionKind, Entry, EntryState, Listing, Payload, ProposalId,
    ProposalKind, QueueError, Response,
};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::escape::printable;
use crate::granted_route::{parse_granted_route, route_yaml};
use crate::tui::input::{LineInput, TextArea};

/// Lines a Page Up / Page Down scrolls the details pane.
const DETAIL_PAGE: u16 = 5;

/// The whole state of the TUI.
#[derive(Debug, Default)]
pub struct App {
    entries: Vec<Entry>,
    bad: Vec<BadEntry>,
    /// Index into [`App::rows`].
    selected: usize,
    /// What is selected, so a refresh keeps the selection on it.
    selected_key: Option<RowKey>,
    mode: Mode,
    status: Option<Status>,
    /// How far the details pane is scrolled down, in lines.
    detail_scroll: u16,
    /// Every pending proposal seen so far (a new one rings the bell).
    seen_pending: HashSet<(PathBuf, ProposalId)>,
    loaded: bool,
    quit: bool,
}

/// What the operator is doing.
#[derive(Debug, Default)]
pub enum Mode {
    /// Moving through the list.
    #[default]
    Browse,
    /// Typing a reason or an answer.
    Prompt(Prompt),
    /// Editing the route to grant.
    Edit(RouteEditor),
}

/// A one-line prompt for the proposal it was opened on.
#[derive(Debug)]
pub struct Prompt {
    pub purpose: Purpose,
    pub target: Target,
    pub input: LineInput,
    /// Why the last submit was refused.
    pub error: Option<String>,
}

/// What a prompt's text becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purpose {
    /// The reason for approving (required for report-only kinds).
    Approve { reason_required: bool },
    /// The reason for approving the edited route (optional).
    ApproveModified { route: Box<Route> },
    /// The reason for rejecting (optional).
    Reject,
    /// The words sent back to the agent (`capability-block`).
    Answer,
}

/// The proposal a prompt or editor acts on, fixed when it opened: the list
/// may move underneath while the operator types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub queue: PathBuf,
    pub id: ProposalId,
    pub kind: ProposalKind,
    /// Escaped for display.
    pub bottle: String,
    /// Set when a refresh saw it answered by someone else meanwhile.
    pub answered_elsewhere: bool,
}

/// The modify editor: the route as YAML.
#[derive(Debug)]
pub struct RouteEditor {
    pub target: Target,
    pub text: TextArea,
    /// Why the last check refused the route (escaped, one entry per line).
    pub error: Vec<String>,
}

/// A line of feedback under the panes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub level: Level,
    /// Escaped for display.
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warning,
    Error,
}

/// One row of the list.
#[derive(Debug, Clone, Copy)]
pub enum Row<'a> {
    Proposal(&'a Entry),
    Malformed(&'a BadEntry),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum RowKey {
    Proposal(PathBuf, ProposalId),
    Malformed(PathBuf),
}

/// What the loop must do for the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Write this answer ([`bot_bottle_queue::Queue::answer`]) and report
    /// the outcome with [`App::on_answer`].
    Answer(AnswerRequest),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerRequest {
    pub queue: PathBuf,
    pub id: ProposalId,
    pub decision: Decision,
    pub reason: Option<String>,
}

/// A key the help line shows, and what it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offer {
    pub key: &'static str,
    pub label: &'static str,
}

impl App {
    pub fn new() -> Self {
        Self::default()
    }

    /// Listed proposals (pending first, newest on top) then malformed files.
    pub fn rows(&self) -> Vec<Row<'_>> {
        self.entries
            .iter()
            .map(Row::Proposal)
            .chain(self.bad.iter().map(Row::Malformed))
            .collect()
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn malformed(&self) -> &[BadEntry] {
        &self.bad
    }

    /// The index of the selected row (meaningless when there are none).
    pub fn selected_index(&self) -> usize {
        self.selected
    }

    pub fn selected(&self) -> Option<Row<'_>> {
        self.rows().get(self.selected).copied()
    }

    fn selected_entry(&self) -> Option<&Entry> {
        match self.selected() {
            Some(Row::Proposal(entry)) => Some(entry),
            _ => None,
        }
    }

    pub fn mode(&self) -> &Mode {
        &self.mode
    }

    pub fn status(&self) -> Option<&Status> {
        self.status.as_ref()
    }

    /// Whether a listing has been loaded yet.
    pub fn loaded(&self) -> bool {
        self.loaded
    }

    pub fn should_quit(&self) -> bool {
        self.quit
    }

    /// Take a fresh listing of every queue. Returns `true` when it holds a
    /// pending proposal not seen before (the loop rings the bell); the first
    /// listing only records what is there.
    pub fn refresh(&mut self, listing: Listing) -> bool {
        let Listing { entries, bad } = listing;
        let mut new_pending = false;
        for entry in &entries {
            if entry.state == EntryState::Pending {
                let key = (entry.queue.clone(), entry.proposal.id.clone());
                new_pending |= self.seen_pending.insert(key) && self.loaded;
            }
        }
        self.entries = entries;
        self.bad = bad;
        self.loaded = true;
        let target = match &mut self.mode {
            Mode::Browse => None,
            Mode::Prompt(prompt) => Some(&mut prompt.target),
            Mode::Edit(editor) => Some(&mut editor.target),
        };
        if let Some(target) = target {
            let still_pending = self.entries.iter().any(|entry| {
                entry.queue == target.queue
                    && entry.proposal.id == target.id
                    && entry.state == EntryState::Pending
            });
            target.answered_elsewhere = !still_pending;
        }
        self.reselect();
        new_pending
    }

    /// Keep the selection on the same row when it is still listed, else on
    /// the same position.
    fn reselect(&mut self) {
        let keys: Vec<RowKey> = self.rows().iter().map(row_key).collect();
        if let Some(found) = self
            .selected_key
            .as_ref()
            .and_then(|key| keys.iter().position(|candidate| candidate == key))
        {
            self.selected = found;
        } else {
            self.selected = self.selected.min(keys.len().saturating_sub(1));
        }
        let key = keys.get(self.selected).cloned();
        if key != self.selected_key {
            self.detail_scroll = 0;
        }
        self.selected_key = key;
    }

    fn select(&mut self, index: usize) {
        self.selected = index;
        self.reselect_position();
    }

    fn reselect_position(&mut self) {
        let keys: Vec<RowKey> = self.rows().iter().map(row_key).collect();
        self.selected = self.selected.min(keys.len().saturating_sub(1));
        let key = keys.get(self.selected).cloned();
        if key != self.selected_key {
            self.detail_scroll = 0;
        }
        self.selected_key = key;
    }

    /// How far the details pane is scrolled (the view clamps it to the text).
    pub fn detail_scroll(&self) -> u16 {
        self.detail_scroll
    }

    /// The keys offered right now, for the help line: only what the mode and
    /// the selected proposal's kind allow.
    pub fn offers(&self) -> Vec<Offer> {
        match &self.mode {
            Mode::Prompt(_) => vec![
                Offer {
                    key: "Enter",
                    label: "submit",
                },
                Offer {
                    key: "Esc",
                    label: "cancel",
                },
            ],
            Mode::Edit(_) => vec![
                Offer {
                    key: "Ctrl-S",
                    label: "check the route, then approve",
                },
                Offer {
                    key: "Esc",
                    label: "cancel",
                },
            ],
            Mode::Browse => {
                let mut offers = vec![Offer {
                    key: "↑↓",
                    label: "select",
                }];
                if let Some(entry) = self
                    .selected_entry()
                    .filter(|entry| entry.state == EntryState::Pending)
                {
                    offers.extend(kind_offers(entry.proposal.kind()));
                }
                if self.selected().is_some() {
                    offers.push(Offer {
                        key: "PgUp/PgDn",
                        label: "scroll details",
                    });
                }
                offers.push(Offer {
                    key: "q",
                    label: "quit",
                });
                offers
            }
        }
    }

    /// Handle one key press. An answer to write comes back as an
    /// [`Action`]; its outcome must be passed to [`App::on_answer`].
    pub fn on_key(&mut self, key: KeyEvent) -> Option<Action> {
        if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
            self.quit = true;
            return None;
        }
        match std::mem::take(&mut self.mode) {
            Mode::Browse => {
                self.browse_key(key);
                None
            }
            Mode::Prompt(prompt) => self.prompt_key(prompt, key),
            Mode::Edit(editor) => {
                self.editor_key(editor, key);
                None
            }
        }
    }

    fn browse_key(&mut self, key: KeyEvent) {
        let rows = self.rows().len();
        let last = rows.saturating_sub(1);
        match key.code {
            KeyCode::Char('q') => self.quit = true,
            KeyCode::Up | KeyCode::Char('k') => self.select(self.selected.saturating_sub(1)),
            KeyCode::Down | KeyCode::Char('j') => self.select((self.selected + 1).min(last)),
            KeyCode::PageUp => self.detail_scroll = self.detail_scroll.saturating_sub(DETAIL_PAGE),
            KeyCode::PageDown => {
                self.detail_scroll = self.detail_scroll.saturating_add(DETAIL_PAGE)
            }
            KeyCode::Home | KeyCode::Char('g') => self.select(0),
            KeyCode::End | KeyCode::Char('G') => self.select(last),
            KeyCode::Esc => self.status = None,
            KeyCode::Char('a') => self.start(DecisionKind::Approve),
            KeyCode::Char('m') => self.start(DecisionKind::ApproveWithModification),
            KeyCode::Char('r') => self.start(DecisionKind::Reject),
            KeyCode::Char('t') => self.start(DecisionKind::Answer),
            _ => {}
        }
    }

    /// Open the prompt or editor for `decision` on the selected proposal,
    /// if its kind allows that decision.
    fn start(&mut self, decision: DecisionKind) {
        let entry = match self.selected() {
            None => return self.tell(Level::Warning, "nothing to answer: no proposal selected"),
            Some(Row::Malformed(_)) => {
                return self.tell(
                    Level::Warning,
                    "a malformed file cannot be answered: fix or remove it",
                );
            }
            Some(Row::Proposal(entry)) => entry,
        };
        if entry.state != EntryState::Pending {
            let text = format!(
                "{} is already {}; nothing left to answer",
                entry.proposal.id,
                entry.state.as_str()
            );
            return self.tell(Level::Warning, &text);
        }
        let kind = entry.proposal.kind();
        if !kind.allows(decision) {
            let text = refusal(kind, decision);
            return self.tell(Level::Warning, &text);
        }
        let target = Target {
            queue: entry.queue.clone(),
            id: entry.proposal.id.clone(),
            kind,
            bottle: printable(&entry.proposal.bottle),
            answered_elsewhere: false,
        };
        // The editor starts from what was asked: the route, or for a drop
        // the bare host (narrowing it is the modification).
        let asked = match &entry.proposal.payload {
            Payload::EgressAllow(ask) => route_yaml(&ask.route),
            Payload::EgressBlock(ask) => match &ask.route {
                Some(route) => route_yaml(route),
                None => Some(format!("host: {}\n", ask.host)),
            },
            _ => None,
        };
        self.status = None;
        self.mode = match decision {
            DecisionKind::ApproveWithModification => Mode::Edit(RouteEditor {
                target,
                text: TextArea::new(&asked.unwrap_or_default()),
                error: Vec::new(),
            }),
            DecisionKind::Approve => Mode::Prompt(Prompt {
                purpose: Purpose::Approve {
                    reason_required: kind.requires_reason_to_approve(),
                },
                target,
                input: LineInput::default(),
                error: None,
            }),
            DecisionKind::Answer => Mode::Prompt(Prompt {
                purpose: Purpose::Answer,
                target,
                input: LineInput::default(),
                error: None,
            }),
            DecisionKind::Reject | DecisionKind::Expired => Mode::Prompt(Prompt {
                purpose: Purpose::Reject,
                target,
                input: LineInput::default(),
                error: None,
            }),
        };
    }

    fn prompt_key(&mut self, mut prompt: Prompt, key: KeyEvent) -> Option<Action> {
        match key.code {
            KeyCode::Esc => {
                self.tell(Level::Info, "cancelled; nothing was written");
                None
            }
            KeyCode::Enter => {
                let text = prompt.input.text().trim().to_string();
                let given = (!text.is_empty()).then(|| text.clone());
                let request = |decision, reason| AnswerRequest {
                    queue: prompt.target.queue.clone(),
                    id: prompt.target.id.clone(),
                    decision,
                    reason,
                };
                let outcome = match &prompt.purpose {
                    Purpose::Approve { reason_required } if *reason_required && given.is_none() => {
                        Err(format!(
                            "a reason is required: {} is report-only, so say why letting it through is safe",
                            prompt.target.kind
                        ))
                    }
                    Purpose::Approve { .. } => Ok(request(Decision::Approve, given)),
                    Purpose::ApproveModified { route } => Ok(request(
                        Decision::ApproveWithModification {
                            route: (**route).clone(),
                        },
                        given,
                    )),
                    Purpose::Reject => Ok(request(Decision::Reject, given)),
                    Purpose::Answer if given.is_none() => {
                        Err("the answer is empty: write what the agent should know".to_string())
                    }
                    Purpose::Answer => Ok(request(Decision::Answer { text }, None)),
                };
                match outcome {
                    Ok(request) => {
                        // Stay in the prompt until the outcome is known: a
                        // refused answer keeps what was typed.
                        prompt.error = None;
                        self.mode = Mode::Prompt(prompt);
                        Some(Action::Answer(request))
                    }
                    Err(error) => {
                        prompt.error = Some(error);
                        self.mode = Mode::Prompt(prompt);
                        None
                    }
                }
            }
            _ => {
                if prompt.input.edit(key) {
                    prompt.error = None;
                }
                self.mode = Mode::Prompt(prompt);
                None
            }
        }
    }

    fn editor_key(&mut self, mut editor: RouteEditor, key: KeyEvent) {
        let submit =
            key.code == KeyCode::Char('s') && key.modifiers.contains(KeyModifiers::CONTROL);
        if key.code == KeyCode::Esc {
            return self.tell(Level::Info, "cancelled; nothing was written");
        }
        if !submit {
            if editor.text.edit(key) {
                editor.error.clear();
            }
            self.mode = Mode::Edit(editor);
            return;
        }
        match parse_granted_route(&editor.text.text()) {
            Ok(route) => {
                self.mode = Mode::Prompt(Prompt {
                    purpose: Purpose::ApproveModified {
                        route: Box::new(route),
                    },
                    target: editor.target,
                    input: LineInput::default(),
                    error: None,
                });
            }
            Err(error) => {
                editor.error = error.to_string().lines().map(printable).collect();
                self.mode = Mode::Edit(editor);
            }
        }
    }

    /// The outcome of the answer an [`Action::Answer`] asked for.
    pub fn on_answer(&mut self, result: Result<Response, QueueError>) {
        let prompt = match std::mem::take(&mut self.mode) {
            Mode::Prompt(prompt) => Some(prompt),
            other => {
                self.mode = other;
                None
            }
        };
        match result {
            Ok(response) => {
                let verb = match response.decision {
                    Decision::Approve => "approved",
                    Decision::ApproveWithModification { .. } => "approved as modified",
                    Decision::Reject => "rejected",
                    Decision::Answer { .. } => "answered",
                    Decision::Expired => "expired",
                };
                let bottle = prompt
                    .as_ref()
                    .map(|prompt| format!(" (bottle {})", prompt.target.bottle))
                    .unwrap_or_default();
                self.tell(Level::Info, &format!("{verb} {}{bottle}", response.id));
            }
            // Someone else (another operator, the CLI, the sidecar giving
            // up) got there first: what was typed no longer matters.
            Err(
                error @ (QueueError::AlreadyAnswered { .. }
                | QueueError::AlreadyProcessed { .. }
                | QueueError::NotFound { .. }),
            ) => {
                self.tell(
                    Level::Warning,
                    &format!("not written: {}", printable(&chain(&error))),
                );
            }
            Err(error) => {
                // Keep the prompt and what was typed; say why.
                let text = printable(&chain(&error));
                match prompt {
                    Some(mut prompt) => {
                        prompt.error = Some(text);
                        self.mode = Mode::Prompt(prompt);
                    }
                    None => self.tell(Level::Error, &text),
                }
            }
        }
    }

    fn tell(&mut self, level: Level, text: &str) {
        self.status = Some(Status {
            level,
            text: text.to_string(),
        });
    }
}

fn row_key(row: &Row<'_>) -> RowKey {
    match row {
        Row::Proposal(entry) => RowKey::Proposal(entry.queue.clone(), entry.proposal.id.clone()),
        Row::Malformed(bad) => RowKey::Malformed(bad.path.clone()),
    }
}

/// The answering keys a pending proposal of `kind` offers.
pub fn kind_offers(kind: ProposalKind) -> Vec<Offer> {
    let mut offers = Vec::new();
    if kind.allows(DecisionKind::Approve) {
        offers.push(Offer {
            key: "a",
            label: if kind.requires_reason_to_approve() {
                "approve (reason required)"
            } else {
                "approve"
            },
        });
    }
    if kind.allows(DecisionKind::ApproveWithModification) {
        offers.push(Offer {
            key: "m",
            label: "modify route",
        });
    }
    if kind.allows(DecisionKind::Answer) {
        offers.push(Offer {
            key: "t",
            label: "answer",
        });
    }
    if kind.allows(DecisionKind::Reject) {
        offers.push(Offer {
            key: "r",
            label: "reject",
        });
    }
    offers
}

/// Why a key does nothing for this kind, and what to press instead.
fn refusal(kind: ProposalKind, decision: DecisionKind) -> String {
    let instead: Vec<String> = kind_offers(kind)
        .iter()
        .map(|offer| format!("{} {}", offer.key, offer.label))
        .collect();
    let why = match decision {
        DecisionKind::Approve if kind.takes_text_answer() => "is answered in words, not approved",
        DecisionKind::ApproveWithModification if kind.is_report_only() => {
            "is report-only: it can be let through once, not changed"
        }
        DecisionKind::ApproveWithModification => "has no route to modify",
        DecisionKind::Answer => "is not answered in words",
        _ => "does not allow that",
    };
    format!("a {kind} proposal {why}; press {}", instead.join(", "))
}

pub(crate) use crate::chain;

#[cfg(test)]
mod tests {
    use super::*;
    use bot_bottle_queue::{
        CapabilityBlock, EgressAllow, EgressBlock, EgressTokenAllow, GitleaksAllow, Proposal,
        Timestamp,
    };

    const QUEUE: &str = "/state/queues/dev";

    fn payload(kind: ProposalKind) -> Payload {
        match kind {
            ProposalKind::EgressAllow => Payload::EgressAllow(EgressAllow {
                route: Route {
                    host: "api.example.com".into(),
                    ..Route::default()
                },
                reason: "docs".into(),
            }),
            ProposalKind::EgressBlock => Payload::EgressBlock(EgressBlock {
                host: "api.example.com".into(),
                route: None,
                reason: "done".into(),
            }),
            ProposalKind::EgressTokenAllow => Payload::EgressTokenAllow(EgressTokenAllow {
                host: "api.example.com".into(),
                method: "POST".into(),
                path: "/v1".into(),
                detector: "patterns".into(),
                rule: "github-pat".into(),
                preview: "gh***9f(40 chars)".into(),
                context: "token=[REDACTED]".into(),
            }),
            ProposalKind::GitleaksAllow => Payload::GitleaksAllow(GitleaksAllow {
                repo: "app".into(),
                reference: "refs/heads/agent/x".into(),
                commit: "0123abcd".into(),
                file: "config.py".into(),
                line: 3,
                rule: "aws-access-key".into(),
                snippet: "KEY = [REDACTED]".into(),
            }),
            ProposalKind::CapabilityBlock => Payload::CapabilityBlock(CapabilityBlock {
                text: "I cannot run docker".into(),
            }),
        }
    }

    fn entry(index: u32, kind: ProposalKind) -> Entry {
        let id = format!("20261128T10000{index}000Z-00000001-00000{index}-0000000a");
        Entry {
            queue: PathBuf::from(QUEUE),
            state: EntryState::Pending,
            proposal: Proposal {
                schema_version: 1,
                id: ProposalId::parse(&id).expect("valid id"),
                bottle: "dev".into(),
                created_at: Timestamp::from_millis(0),
                payload: payload(kind),
            },
            response: None,
        }
    }

    /// An app listing one pending proposal of `kind`.
    fn app_with(kind: ProposalKind) -> App {
        let mut app = App::new();
        app.refresh(Listing {
            entries: vec![entry(1, kind)],
            bad: Vec::new(),
        });
        app
    }

    fn press(app: &mut App, code: KeyCode) -> Option<Action> {
        app.on_key(KeyEvent::new(code, KeyModifiers::NONE))
    }

    fn type_text(app: &mut App, text: &str) {
        for character in text.chars() {
            assert_eq!(press(app, KeyCode::Char(character)), None);
        }
    }

    fn prompt(app: &App) -> &Prompt {
        match app.mode() {
            Mode::Prompt(prompt) => prompt,
            other => panic!("want a prompt, got {other:?}"),
        }
    }

    fn answer_of(action: Option<Action>) -> AnswerRequest {
        match action {
            Some(Action::Answer(request)) => request,
            None => panic!("no answer requested"),
        }
    }

    #[test]
    fn approving_a_report_only_kind_demands_a_reason() {
        for kind in [ProposalKind::EgressTokenAllow, ProposalKind::GitleaksAllow] {
            let mut app = app_with(kind);
            press(&mut app, KeyCode::Char('a'));
            assert_eq!(
                prompt(&app).purpose,
                Purpose::Approve {
                    reason_required: true
                }
            );
            // Enter with no reason (or only spaces) writes nothing.
            type_text(&mut app, "  ");
            assert_eq!(press(&mut app, KeyCode::Enter), None, "{kind}");
            let error = prompt(&app).error.clone().expect("refused");
            assert!(error.contains("a reason is required"), "{error}");
            type_text(&mut app, "test fixture, not a real key");
            let request = answer_of(press(&mut app, KeyCode::Enter));
            assert_eq!(request.decision, Decision::Approve);
            assert_eq!(
                request.reason.as_deref(),
                Some("test fixture, not a real key")
            );
        }
    }

    #[test]
    fn approving_an_egress_allow_needs_no_reason() {
        let mut app = app_with(ProposalKind::EgressAllow);
        press(&mut app, KeyCode::Char('a'));
        let request = answer_of(press(&mut app, KeyCode::Enter));
        assert_eq!(request.decision, Decision::Approve);
        assert_eq!(request.reason, None);
        assert_eq!(request.queue, PathBuf::from(QUEUE));
    }

    #[test]
    fn modify_is_offered_only_where_the_kind_allows_it() {
        for kind in ProposalKind::ALL {
            let mut app = app_with(kind);
            let offered = app.offers().iter().any(|offer| offer.key == "m");
            assert_eq!(offered, kind.allows_modify(), "{kind}");
            press(&mut app, KeyCode::Char('m'));
            match app.mode() {
                Mode::Edit(_) => assert!(kind.allows_modify(), "{kind}"),
                Mode::Browse => {
                    assert!(!kind.allows_modify(), "{kind}");
                    let status = app.status().expect("told why");
                    assert_eq!(status.level, Level::Warning);
                    assert!(status.text.starts_with(&format!("a {kind} proposal")));
                }
                Mode::Prompt(_) => panic!("{kind}: modify opened a prompt"),
            }
        }
    }

    #[test]
    fn modify_edits_the_route_checks_it_then_asks_for_a_reason() {
        let mut app = app_with(ProposalKind::EgressAllow);
        press(&mut app, KeyCode::Char('m'));
        let Mode::Edit(editor) = app.mode() else {
            panic!("want the editor");
        };
        assert_eq!(editor.text.lines(), ["host: api.example.com"]);
        // Break the host: the check refuses, the editor stays open.
        press(&mut app, KeyCode::Home);
        for _ in 0.."host: ".len() {
            press(&mut app, KeyCode::Right);
        }
        type_text(&mut app, "Bad Host ");
        let save = KeyEvent::new(KeyCode::Char('s'), KeyModifiers::CONTROL);
        assert_eq!(app.on_key(save), None);
        let Mode::Edit(editor) = app.mode() else {
            panic!("a refused route keeps the editor open");
        };
        assert!(
            editor.error[0].starts_with("not a valid route"),
            "{:?}",
            editor.error
        );
        // Fix it and narrow it.
        for _ in 0.."Bad Host ".len() {
            press(&mut app, KeyCode::Backspace);
        }
        press(&mut app, KeyCode::End);
        press(&mut app, KeyCode::Enter);
        type_text(&mut app, "methods: [GET]");
        assert_eq!(app.on_key(save), None);
        let Purpose::ApproveModified { route } = &prompt(&app).purpose else {
            panic!("want the reason prompt of a modified approval");
        };
        assert_eq!(route.methods, Some(vec!["GET".to_string()]));
        type_text(&mut app, "read only");
        let request = answer_of(press(&mut app, KeyCode::Enter));
        let Decision::ApproveWithModification { route } = request.decision else {
            panic!("want approve-with-modification");
        };
        assert_eq!(route.host, "api.example.com");
        assert_eq!(request.reason.as_deref(), Some("read only"));
    }

    #[test]
    fn only_a_capability_block_is_answered_in_words() {
        for kind in ProposalKind::ALL {
            let mut app = app_with(kind);
            let offered = app.offers().iter().any(|offer| offer.key == "t");
            assert_eq!(offered, kind == ProposalKind::CapabilityBlock, "{kind}");
            press(&mut app, KeyCode::Char('t'));
            if kind != ProposalKind::CapabilityBlock {
                assert!(matches!(app.mode(), Mode::Browse), "{kind}");
                assert!(app.status().is_some(), "{kind}: told why");
                continue;
            }
            assert_eq!(prompt(&app).purpose, Purpose::Answer);
            assert_eq!(
                press(&mut app, KeyCode::Enter),
                None,
                "empty answer refused"
            );
            type_text(&mut app, "use podman");
            let request = answer_of(press(&mut app, KeyCode::Enter));
            assert_eq!(
                request.decision,
                Decision::Answer {
                    text: "use podman".into()
                }
            );
        }
    }

    #[test]
    fn a_capability_block_cannot_be_approved() {
        let mut app = app_with(ProposalKind::CapabilityBlock);
        assert!(!app.offers().iter().any(|offer| offer.key == "a"));
        press(&mut app, KeyCode::Char('a'));
        assert!(matches!(app.mode(), Mode::Browse));
        let status = app.status().expect("told why");
        assert!(status.text.contains("answered in words"), "{}", status.text);
    }

    #[test]
    fn rejecting_takes_an_optional_reason() {
        for kind in ProposalKind::ALL {
            let mut app = app_with(kind);
            press(&mut app, KeyCode::Char('r'));
            assert_eq!(prompt(&app).purpose, Purpose::Reject);
            let request = answer_of(press(&mut app, KeyCode::Enter));
            assert_eq!(request.decision, Decision::Reject, "{kind}");
            assert_eq!(request.reason, None);
        }
    }

    #[test]
    fn escape_cancels_without_writing() {
        let mut app = app_with(ProposalKind::GitleaksAllow);
        press(&mut app, KeyCode::Char('a'));
        type_text(&mut app, "half a reason");
        assert_eq!(press(&mut app, KeyCode::Esc), None);
        assert!(matches!(app.mode(), Mode::Browse));
    }

    #[test]
    fn answered_elsewhere_while_typing_is_a_message_not_a_crash() {
        let mut app = app_with(ProposalKind::GitleaksAllow);
        press(&mut app, KeyCode::Char('a'));
        type_text(&mut app, "fixture");
        // Another operator answers; the next poll sees it.
        let mut answered = entry(1, ProposalKind::GitleaksAllow);
        answered.state = EntryState::Answered;
        app.refresh(Listing {
            entries: vec![answered.clone()],
            bad: Vec::new(),
        });
        assert!(prompt(&app).target.answered_elsewhere);
        assert_eq!(
            prompt(&app).input.text(),
            "fixture",
            "typing survives a refresh"
        );
        let request = answer_of(press(&mut app, KeyCode::Enter));
        app.on_answer(Err(QueueError::AlreadyAnswered {
            id: request.id,
            decision: Some(DecisionKind::Reject),
            answered_by: Some("ops\u{1b}[2J".into()),
        }));
        assert!(matches!(app.mode(), Mode::Browse));
        let status = app.status().expect("a message");
        assert_eq!(status.level, Level::Warning);
        assert!(
            status.text.contains("already answered") && status.text.contains("ops\\u{1b}[2J"),
            "{}",
            status.text
        );
        // Nothing more to answer on it.
        press(&mut app, KeyCode::Char('r'));
        assert!(matches!(app.mode(), Mode::Browse));
        assert!(
            app.status()
                .expect("told")
                .text
                .contains("already answered")
        );
    }

    #[test]
    fn any_other_failure_keeps_the_prompt_and_what_was_typed() {
        let mut app = app_with(ProposalKind::EgressAllow);
        press(&mut app, KeyCode::Char('r'));
        type_text(&mut app, "no");
        let request = answer_of(press(&mut app, KeyCode::Enter));
        app.on_answer(Err(QueueError::Io {
            operation: "write",
            path: PathBuf::from(QUEUE),
            source: std::io::Error::other("disk full"),
        }));
        let open = prompt(&app);
        assert_eq!(open.input.text(), "no");
        assert!(
            open.error
                .as_deref()
                .is_some_and(|error| error.contains("disk full")),
            "{:?}",
            open.error
        );
        assert_eq!(open.target.id, request.id);
    }

    #[test]
    fn a_new_pending_proposal_rings_once_and_the_first_listing_does_not() {
        let mut app = App::new();
        let first = Listing {
            entries: vec![entry(1, ProposalKind::EgressAllow)],
            bad: Vec::new(),
        };
        assert!(!app.refresh(first.clone()), "what is there at start");
        assert!(!app.refresh(first), "nothing new");
        let second = Listing {
            entries: vec![
                entry(2, ProposalKind::CapabilityBlock),
                entry(1, ProposalKind::EgressAllow),
            ],
            bad: Vec::new(),
        };
        assert!(app.refresh(second.clone()));
        assert!(!app.refresh(second));
    }

    #[test]
    fn the_selection_follows_its_proposal_across_refreshes() {
        let mut app = App::new();
        app.refresh(Listing {
            entries: vec![
                entry(2, ProposalKind::CapabilityBlock),
                entry(1, ProposalKind::EgressAllow),
            ],
            bad: Vec::new(),
        });
        press(&mut app, KeyCode::Down);
        app.refresh(Listing {
            entries: vec![
                entry(3, ProposalKind::GitleaksAllow),
                entry(2, ProposalKind::CapabilityBlock),
                entry(1, ProposalKind::EgressAllow),
            ],
            bad: Vec::new(),
        });
        assert_eq!(app.selected_index(), 2);
        // Gone: the selection stays in range.
        app.refresh(Listing::default());
        assert!(app.selected().is_none());
        press(&mut app, KeyCode::Char('a'));
        assert!(app.status().is_some());
    }

    #[test]
    fn a_malformed_row_cannot_be_answered() {
        let mut app = App::new();
        app.refresh(Listing {
            entries: Vec::new(),
            bad: vec![BadEntry {
                path: PathBuf::from("/state/queues/dev/x.proposal.json"),
                reason: bot_bottle_queue::BadReason::MissingSchemaVersion,
            }],
        });
        assert!(matches!(app.selected(), Some(Row::Malformed(_))));
        let keys: Vec<&str> = app.offers().iter().map(|offer| offer.key).collect();
        assert_eq!(keys, ["↑↓", "PgUp/PgDn", "q"], "no answering keys");
        press(&mut app, KeyCode::Char('a'));
        assert!(matches!(app.mode(), Mode::Browse));
        assert!(app.status().expect("told").text.contains("malformed"));
    }

    #[test]
    fn q_and_ctrl_c_quit_but_q_in_a_prompt_is_text() {
        let mut app = app_with(ProposalKind::EgressAllow);
        press(&mut app, KeyCode::Char('r'));
        press(&mut app, KeyCode::Char('q'));
        assert!(!app.should_quit());
        assert_eq!(prompt(&app).input.text(), "q");
        app.on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
        assert!(app.should_quit());
        let mut app = app_with(ProposalKind::EgressAllow);
        press(&mut app, KeyCode::Char('q'));
        assert!(app.should_quit());
    }
}
