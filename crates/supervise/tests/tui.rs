//! The operator TUI's screens, rendered into ratatui's `TestBackend` and
//! snapshotted: the list with every kind, the detail pane of each kind, the
//! prompts, the modify editor, a malformed file, an empty queue. "Now" is
//! fixed, so ages are too.
#![expect(clippy::unwrap_used, reason = "test setup panics on failure")]

use std::path::PathBuf;

use bot_bottle_manifest::model::Route;
use bot_bottle_queue::{
    BadEntry, BadReason, CapabilityBlock, Decision, EgressAllow, EgressBlock, EgressTokenAllow,
    Entry, EntryState, GitleaksAllow, Listing, Payload, Proposal, ProposalId, ProposalKind,
    Response, ResponseFile, Timestamp,
};
use bot_bottle_supervise::tui::app::App;
use bot_bottle_supervise::tui::view;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

const WIDTH: u16 = 110;
const HEIGHT: u16 = 34;
/// 2026-11-28T10:00:00Z.
const BASE_MILLIS: i64 = 1_795_860_000_000;
/// "Now" in every snapshot: ten minutes after the base.
const NOW: Timestamp = Timestamp::from_millis(BASE_MILLIS + 10 * 60_000);

fn queue(bottle: &str) -> PathBuf {
    PathBuf::from(format!("/state/bot-bottle/queues/{bottle}"))
}

/// A pending proposal filed `minute` minutes after the base.
fn entry(minute: i64, bottle: &str, payload: Payload) -> Entry {
    let id = format!("20261128T10{minute:02}00000Z-00000001-0000{minute:02}-0000000a");
    Entry {
        queue: queue(bottle),
        state: EntryState::Pending,
        proposal: Proposal {
            schema_version: 1,
            id: ProposalId::parse(&id).unwrap(),
            bottle: bottle.to_string(),
            created_at: Timestamp::from_millis(BASE_MILLIS + minute * 60_000),
            payload,
        },
        response: None,
    }
}

fn egress_allow() -> Payload {
    Payload::EgressAllow(EgressAllow {
        route: Route {
            host: "api.example.com".into(),
            methods: Some(vec!["GET".into()]),
            paths: Some(vec!["/v1/".into()]),
            ..Route::default()
        },
        reason: "read the API docs\nand the changelog".into(),
    })
}

fn egress_block() -> Payload {
    Payload::EgressBlock(EgressBlock {
        host: "uploads.example.com".into(),
        route: Some(Route {
            host: "uploads.example.com".into(),
            methods: Some(vec!["GET".into()]),
            ..Route::default()
        }),
        reason: "uploads are done; keep downloads".into(),
    })
}

fn token_allow() -> Payload {
    Payload::EgressTokenAllow(EgressTokenAllow {
        host: "api.github.com".into(),
        method: "POST".into(),
        path: "/repos/o/r/issues".into(),
        detector: "patterns".into(),
        rule: "github-pat".into(),
        preview: "gh***9f(40 chars)".into(),
        context: "{\"body\": \"token [REDACTED] here\"}".into(),
    })
}

fn gitleaks_allow() -> Payload {
    Payload::GitleaksAllow(GitleaksAllow {
        repo: "app".into(),
        reference: "refs/heads/agent/fix".into(),
        commit: "0123abcd4567".into(),
        file: "settings.py".into(),
        line: 7,
        rule: "aws-access-key".into(),
        snippet: "KEY = \"[REDACTED]\"".into(),
    })
}

fn capability_block() -> Payload {
    Payload::CapabilityBlock(CapabilityBlock {
        text: "I need a Postgres database for the tests.\nCan you start one?".into(),
    })
}

fn malformed() -> BadEntry {
    BadEntry {
        path: queue("web").join("20261128T100000000Z-00000001-000000-00000000.proposal.json"),
        reason: BadReason::NotJson {
            message: "expected value at line 1 column 1".into(),
        },
    }
}

/// Every kind pending (newest first, as the queue lists them), one answered
/// proposal, one malformed file.
fn everything() -> Listing {
    let mut answered = entry(0, "web", egress_allow());
    answered.state = EntryState::Answered;
    answered.response = Some(ResponseFile::Valid(Response {
        schema_version: 1,
        id: answered.proposal.id.clone(),
        decision: Decision::Reject,
        reason: Some("not needed".into()),
        answered_at: Timestamp::from_millis(BASE_MILLIS + 60_000),
        answered_by: Some("ops".into()),
    }));
    Listing {
        entries: vec![
            entry(9, "dev", capability_block()),
            entry(8, "dev", gitleaks_allow()),
            entry(6, "web", token_allow()),
            entry(4, "dev", egress_block()),
            entry(2, "dev", egress_allow()),
            answered,
        ],
        bad: vec![malformed()],
    }
}

fn app(listing: Listing) -> App {
    let mut app = App::new();
    app.refresh(listing);
    app
}

fn press(app: &mut App, code: KeyCode) {
    let _ = app.on_key(KeyEvent::new(code, KeyModifiers::NONE));
}

fn type_text(app: &mut App, text: &str) {
    for character in text.chars() {
        press(app, KeyCode::Char(character));
    }
}

fn screen(app: &App) -> String {
    let mut terminal = Terminal::new(TestBackend::new(WIDTH, HEIGHT)).unwrap();
    terminal
        .draw(|frame| view::render(frame, app, NOW))
        .unwrap();
    terminal.backend().to_string()
}

/// The last line of the screen, unquoted.
fn help_line(screen: &str) -> String {
    let last = screen.lines().last().unwrap();
    last.trim_matches('"').trim_end().to_string()
}

/// Select the row of `kind` (the listing in [`everything`] has one pending
/// proposal of each).
fn select_kind(app: &mut App, kind: ProposalKind) {
    press(app, KeyCode::Home);
    for _ in 0..app.rows().len() {
        if let Some(bot_bottle_supervise::tui::app::Row::Proposal(entry)) = app.selected()
            && entry.proposal.kind() == kind
            && entry.state == EntryState::Pending
        {
            return;
        }
        press(app, KeyCode::Down);
    }
    panic!("no pending {kind}");
}

#[test]
fn list_with_every_kind() {
    insta::assert_snapshot!(screen(&app(everything())));
}

#[test]
fn detail_pane_of_each_kind() {
    for kind in ProposalKind::ALL {
        let mut app = app(everything());
        select_kind(&mut app, kind);
        insta::assert_snapshot!(format!("detail_{kind}"), screen(&app));
    }
}

#[test]
fn detail_of_an_answered_proposal() {
    let mut app = app(everything());
    press(&mut app, KeyCode::Home);
    for _ in 0..5 {
        press(&mut app, KeyCode::Down);
    }
    insta::assert_snapshot!(screen(&app));
}

#[test]
fn reason_prompt_for_a_report_only_kind() {
    let mut app = app(everything());
    select_kind(&mut app, ProposalKind::GitleaksAllow);
    press(&mut app, KeyCode::Char('a'));
    press(&mut app, KeyCode::Enter);
    insta::assert_snapshot!("reason_prompt_refuses_an_empty_reason", screen(&app));
    type_text(&mut app, "a test fixture, not a real key");
    insta::assert_snapshot!("reason_prompt_with_a_reason", screen(&app));
}

#[test]
fn answer_prompt_for_a_capability_block() {
    let mut app = app(everything());
    select_kind(&mut app, ProposalKind::CapabilityBlock);
    press(&mut app, KeyCode::Char('t'));
    type_text(&mut app, "use sqlite instead");
    insta::assert_snapshot!(screen(&app));
}

#[test]
fn modify_editor() {
    let mut app = app(everything());
    select_kind(&mut app, ProposalKind::EgressAllow);
    press(&mut app, KeyCode::Char('m'));
    insta::assert_snapshot!(
        "modify_editor_starts_from_the_route_asked_for",
        screen(&app)
    );
    // Break it: the same check as `proposals approve --modify` refuses.
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::End);
    press(&mut app, KeyCode::Enter);
    type_text(&mut app, "token_env: lower-case");
    let _ = app.on_key(KeyEvent::new(KeyCode::Char('s'), KeyModifiers::CONTROL));
    insta::assert_snapshot!("modify_editor_shows_why_a_route_is_refused", screen(&app));
    for _ in 0.."lower-case".len() {
        press(&mut app, KeyCode::Backspace);
    }
    type_text(&mut app, "EGRESS_TOKEN_API");
    // A token needs a way to be sent (the editor said so too).
    press(&mut app, KeyCode::Enter);
    type_text(&mut app, "auth_scheme: Bearer");
    let _ = app.on_key(KeyEvent::new(KeyCode::Char('s'), KeyModifiers::CONTROL));
    insta::assert_snapshot!("modify_then_the_reason_prompt", screen(&app));
}

#[test]
fn malformed_file_is_a_row_with_its_problem() {
    let mut app = app(everything());
    press(&mut app, KeyCode::End);
    insta::assert_snapshot!(screen(&app));
}

#[test]
fn empty_queue() {
    insta::assert_snapshot!(screen(&app(Listing::default())));
}

#[test]
fn before_the_first_listing() {
    insta::assert_snapshot!(screen(&App::new()));
}

#[test]
fn help_line_offers_only_what_the_kind_allows_and_is_always_there() {
    let table = [
        (
            ProposalKind::EgressAllow,
            "↑↓ select  a approve  m modify route  r reject  PgUp/PgDn scroll details  q quit",
        ),
        (
            ProposalKind::EgressBlock,
            "↑↓ select  a approve  m modify route  r reject  PgUp/PgDn scroll details  q quit",
        ),
        (
            ProposalKind::EgressTokenAllow,
            "↑↓ select  a approve (reason required)  r reject  PgUp/PgDn scroll details  q quit",
        ),
        (
            ProposalKind::GitleaksAllow,
            "↑↓ select  a approve (reason required)  r reject  PgUp/PgDn scroll details  q quit",
        ),
        (
            ProposalKind::CapabilityBlock,
            "↑↓ select  t answer  r reject  PgUp/PgDn scroll details  q quit",
        ),
    ];
    for (kind, want) in table {
        let mut app = app(everything());
        select_kind(&mut app, kind);
        assert_eq!(help_line(&screen(&app)), format!(" {want}"), "{kind}");
    }
    let mut app = app(everything());
    press(&mut app, KeyCode::Char('r'));
    assert_eq!(help_line(&screen(&app)), " Enter submit  Esc cancel");
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::End);
    assert_eq!(
        help_line(&screen(&app)),
        " ↑↓ select  PgUp/PgDn scroll details  q quit",
        "a malformed row"
    );
    select_kind(&mut app, ProposalKind::EgressBlock);
    press(&mut app, KeyCode::Char('m'));
    assert_eq!(
        help_line(&screen(&app)),
        " Ctrl-S check the route, then approve  Esc cancel"
    );
    // Even on a tiny terminal.
    let mut terminal = Terminal::new(TestBackend::new(60, 8)).unwrap();
    let app = self::app(everything());
    terminal
        .draw(|frame| view::render(frame, &app, NOW))
        .unwrap();
    assert!(
        help_line(&terminal.backend().to_string()).starts_with(" ↑↓ select"),
        "{}",
        terminal.backend()
    );
}

#[test]
fn text_from_queue_files_cannot_drive_the_terminal() {
    let hostile = entry(
        1,
        "dev\u{1b}]0;pwned\u{7}",
        Payload::CapabilityBlock(CapabilityBlock {
            text: "clear\u{1b}[2J the screen\u{202e}gnp.exe\nsecond line\u{200b}".into(),
        }),
    );
    let screen = screen(&app(Listing {
        entries: vec![hostile],
        bad: Vec::new(),
    }));
    assert!(!screen.contains('\u{1b}') && !screen.contains('\u{202e}'));
    assert!(!screen.contains('\u{7}') && !screen.contains('\u{200b}'));
    insta::assert_snapshot!(screen);
}

#[test]
fn details_scroll_with_page_down_and_back() {
    let mut app = app(everything());
    press(&mut app, KeyCode::Home);
    for _ in 0..5 {
        press(&mut app, KeyCode::Down);
    }
    let small = |app: &App| {
        let mut terminal = Terminal::new(TestBackend::new(WIDTH, 26)).unwrap();
        terminal
            .draw(|frame| view::render(frame, app, NOW))
            .unwrap();
        terminal.backend().to_string()
    };
    let top = small(&app);
    assert!(top.contains("kind       egress-allow") && !top.contains("by         ops"));
    press(&mut app, KeyCode::PageDown);
    press(&mut app, KeyCode::PageDown);
    press(&mut app, KeyCode::PageDown);
    let scrolled = small(&app);
    assert!(scrolled.contains("by         ops"), "{scrolled}");
    assert!(!scrolled.contains("kind       egress-allow"), "{scrolled}");
    press(&mut app, KeyCode::PageUp);
    press(&mut app, KeyCode::PageUp);
    press(&mut app, KeyCode::PageUp);
    assert_eq!(small(&app), top);
    // Another selection starts at the top again.
    press(&mut app, KeyCode::PageDown);
    press(&mut app, KeyCode::Up);
    assert_eq!(app.detail_scroll(), 0);
}

#[test]
fn tiny_terminals_do_not_panic() {
    let mut app = app(everything());
    for (width, height) in [(1, 1), (2, 2), (10, 3), (20, 5), (40, 10)] {
        for key in [KeyCode::Char('m'), KeyCode::Esc, KeyCode::Char('r')] {
            press(&mut app, key);
            let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
            terminal
                .draw(|frame| view::render(frame, &app, NOW))
                .unwrap();
        }
        press(&mut app, KeyCode::Esc);
    }
}

#[test]
fn load_reads_real_queues_and_reports_what_it_cannot_read() {
    use bot_bottle_queue::{Queue, bottle_queue_dir};
    use bot_bottle_supervise::tui::{QueueSource, load};

    let state = tempfile::tempdir().unwrap();
    let dev = Queue::create(bottle_queue_dir(state.path(), "dev").unwrap()).unwrap();
    dev.propose("dev", egress_allow()).unwrap();
    std::fs::write(
        dev.dir()
            .join("20261128T100000000Z-00000001-000000-00000000.proposal.json"),
        "{ not json",
    )
    .unwrap();
    let listing = load(&QueueSource::StateDir(state.path().to_path_buf()));
    assert_eq!(listing.entries.len(), 1);
    assert_eq!(listing.bad.len(), 1);
    assert!(matches!(listing.bad[0].reason, BadReason::NotJson { .. }));

    // A bottle launched later is found on the next poll.
    let web = Queue::create(bottle_queue_dir(state.path(), "web").unwrap()).unwrap();
    web.propose("web", capability_block()).unwrap();
    let listing = load(&QueueSource::StateDir(state.path().to_path_buf()));
    assert_eq!(listing.entries.len(), 2);

    // A queue that went away is reported, not fatal.
    let gone = state.path().join("gone");
    let listing = load(&QueueSource::Dirs(vec![gone.clone()]));
    assert!(listing.entries.is_empty());
    assert_eq!(listing.bad.len(), 1);
    assert_eq!(listing.bad[0].path, gone);
    assert!(matches!(
        listing.bad[0].reason,
        BadReason::Unreadable { .. }
    ));

    // No state yet: nothing to show, nothing wrong.
    let empty = tempfile::tempdir().unwrap();
    assert_eq!(
        load(&QueueSource::StateDir(empty.path().to_path_buf())),
        Listing::default()
    );
}

#[test]
fn modify_editor_for_an_egress_block_edits_what_remains() {
    let mut app = app(everything());
    select_kind(&mut app, ProposalKind::EgressBlock);
    press(&mut app, KeyCode::Char('m'));
    insta::assert_snapshot!(screen(&app));
}
