//! The terminal loop: set the terminal up, poll the queues, draw, read
//! keys, write answers, and put the terminal back on every way out.
//!
//! The only I/O of the TUI is here. Queues are re-read every
//! [`POLL_INTERVAL`] (and right after an answer), so proposals filed or
//! answered elsewhere — by a sidecar, another operator, the CLI — show up
//! within that time; a new pending proposal rings the terminal bell.
//!
//! The terminal is restored by a guard on return and on unwinding, and by
//! the panic hook `ratatui::try_init` installs (it restores raw mode and the
//! main screen before the panic message is printed); on a signal the CLI
//! calls [`restore_terminal`] before exiting.

use std::io::{self, Write as _};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bot_bottle_queue::error::BadReason;
use bot_bottle_queue::layout::QUEUES_DIR;
use bot_bottle_queue::{BadEntry, Listing, Queue, Scope, Timestamp, discover_queues, list_queues};
use ratatui::DefaultTerminal;
use ratatui::crossterm::event::{self, Event, KeyEventKind};

use crate::tui::TuiError;
use crate::tui::app::{Action, App};
use crate::tui::view;

/// How often the queues are re-read.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Which queues to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueSource {
    /// These queue directories (`--queue DIR`).
    Dirs(Vec<PathBuf>),
    /// Every bottle's queue under this state directory, looked for again on
    /// every poll so a bottle launched later shows up.
    StateDir(PathBuf),
}

/// What the CLI passes in (the library reads no environment).
#[derive(Debug, Clone)]
pub struct Options {
    pub source: QueueSource,
    /// Recorded as `answered_by` in every response.
    pub answered_by: Option<String>,
    pub poll_interval: Duration,
    /// Panic right after the first screen is drawn: how the tests prove
    /// the terminal is restored on a panic. The CLI sets it only in debug
    /// builds, from `BOT_BOTTLE_TEST_TUI_PANIC`.
    pub panic_after_first_draw: bool,
}

/// Run the TUI until the operator quits.
pub fn run(options: &Options) -> Result<(), TuiError> {
    let mut screen = Screen::enter()?;
    let mut app = App::new();
    let mut next_poll = Instant::now();
    while !app.should_quit() {
        if Instant::now() >= next_poll {
            if app.refresh(load(&options.source)) {
                ring_bell()?;
            }
            next_poll = Instant::now() + options.poll_interval;
        }
        let now = Timestamp::now();
        screen
            .terminal
            .draw(|frame| view::render(frame, &app, now))
            .map_err(TuiError::io("draw on"))?;
        if options.panic_after_first_draw {
            panic!("bot-bottle supervise: a panic, as the test asked");
        }
        let wait = next_poll.saturating_duration_since(Instant::now());
        if !event::poll(wait).map_err(TuiError::io("read keys from"))? {
            continue;
        }
        let Event::Key(key) = event::read().map_err(TuiError::io("read keys from"))? else {
            continue; // a resize: the next draw fits the new size
        };
        if key.kind != KeyEventKind::Press {
            continue;
        }
        if let Some(Action::Answer(request)) = app.on_key(key) {
            let result = Queue::open(&request.queue).and_then(|queue| {
                queue.answer(
                    &request.id,
                    request.decision,
                    request.reason,
                    options.answered_by.clone(),
                )
            });
            app.on_answer(result);
            next_poll = Instant::now();
        }
    }
    screen.leave()
}

/// Every queue's active proposals and bad files. A queue or state directory
/// that cannot be read becomes a bad entry, shown like a malformed file.
pub fn load(source: &QueueSource) -> Listing {
    let mut unreadable = Vec::new();
    let dirs = match source {
        QueueSource::Dirs(dirs) => dirs.clone(),
        QueueSource::StateDir(state) => match discover_queues(state) {
            Ok(dirs) => dirs,
            Err(error) => {
                unreadable.push(bad(state.join(QUEUES_DIR), &error));
                Vec::new()
            }
        },
    };
    let mut queues = Vec::new();
    for dir in dirs {
        match Queue::open(&dir) {
            Ok(queue) => queues.push(queue),
            Err(error) => unreadable.push(bad(dir, &error)),
        }
    }
    let mut listing = list_queues(&queues, Scope::Active);
    listing.bad.extend(unreadable);
    listing
}

fn bad(path: PathBuf, error: &dyn std::error::Error) -> BadEntry {
    BadEntry {
        path,
        reason: BadReason::Unreadable {
            message: crate::chain(error),
        },
    }
}

fn ring_bell() -> Result<(), TuiError> {
    let mut stdout = io::stdout();
    stdout
        .write_all(b"\x07")
        .and_then(|()| stdout.flush())
        .map_err(TuiError::io("ring the bell of"))
}

/// Put the terminal back (raw mode off, main screen) from outside the loop:
/// the CLI calls it when a signal ends the process, which would otherwise
/// skip the guard below.
pub fn restore_terminal() -> Result<(), TuiError> {
    ratatui::try_restore().map_err(TuiError::io("restore"))
}

/// The terminal in raw mode on the alternate screen; dropping it restores
/// the terminal (also while unwinding from a panic).
struct Screen {
    terminal: DefaultTerminal,
    restored: bool,
}

impl Screen {
    fn enter() -> Result<Self, TuiError> {
        match ratatui::try_init() {
            Ok(terminal) => Ok(Self {
                terminal,
                restored: false,
            }),
            Err(error) => {
                // Set-up may have stopped half-way (raw mode on, no
                // alternate screen): undo what was done.
                let _ = ratatui::try_restore();
                Err(TuiError::Terminal {
                    operation: "set up",
                    source: error,
                })
            }
        }
    }

    fn leave(mut self) -> Result<(), TuiError> {
        self.restored = true;
        ratatui::try_restore().map_err(TuiError::io("restore"))
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        if !self.restored {
            ratatui::restore();
        }
    }
}
