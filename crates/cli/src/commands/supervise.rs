//! `bot-bottle supervise [--queue DIR]`: the operator's terminal UI
//! (`bot_bottle_supervise::tui`).
//!
//! Which queues: `--queue DIR` names one bottle's queue; without it every
//! bottle's queue under `$XDG_STATE_HOME/bot-bottle/queues/` is shown, looked
//! for again while the UI runs so a bottle launched later appears. The same
//! rules as `proposals` (exit 2 for a `--queue` that is not a directory or no
//! state directory).
//!
//! While the UI owns the terminal, log lines are dropped: the queue logs a
//! warning for each malformed file it lists, which would scribble over the
//! screen; the UI shows those files as rows instead.
//!
//! SIGTERM or SIGINT (in raw mode Ctrl-C is a key, so these come from
//! `kill`) restore the terminal and exit with 128 + the signal number, as a
//! shell reports a process killed by it; without that the terminal would be
//! left in raw mode.

use bot_bottle_supervise::tui::{self, Options, POLL_INTERVAL, QueueSource};

use crate::args::SuperviseArgs;
use crate::commands::proposals::{open_queue_arg, state_dir};
use crate::environment;
use crate::exit::SUCCESS;

pub fn run(args: &SuperviseArgs) -> anyhow::Result<u8> {
    let source = match &args.queue.queue {
        Some(dir) => {
            open_queue_arg(dir)?;
            QueueSource::Dirs(vec![dir.clone()])
        }
        None => QueueSource::StateDir(state_dir()?),
    };
    let options = Options {
        source,
        answered_by: environment::operator_name(),
        poll_interval: POLL_INTERVAL,
        panic_after_first_draw: cfg!(debug_assertions)
            && environment::variable(TEST_PANIC_VARIABLE).is_some(),
    };
    restore_the_terminal_on_signals();
    tracing::subscriber::with_default(tracing::subscriber::NoSubscriber::default(), || {
        tui::run(&options)
    })?;
    Ok(SUCCESS)
}

/// Watch SIGTERM and SIGINT on a thread of their own: on either, restore the
/// terminal and exit. If the handlers cannot be installed, the signals keep
/// their default action (the process dies, the terminal stays raw).
fn restore_the_terminal_on_signals() {
    let watcher = std::thread::Builder::new()
        .name("supervise-signals".to_string())
        .spawn(|| {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .build()
            else {
                return;
            };
            let received = runtime.block_on(async {
                use tokio::signal::unix::{SignalKind, signal};
                let mut terminate = signal(SignalKind::terminate()).ok()?;
                let mut interrupt = signal(SignalKind::interrupt()).ok()?;
                tokio::select! {
                    _ = terminate.recv() => Some(SIGTERM),
                    _ = interrupt.recv() => Some(SIGINT),
                }
            });
            if let Some(number) = received {
                let _ = tui::restore_terminal();
                std::process::exit(128 + number);
            }
        });
    if let Err(error) = watcher {
        tracing::warn!(%error, "cannot watch for signals; a kill leaves the terminal raw");
    }
}

/// Debug builds only: panic after the first draw (the terminal-restore test).
const TEST_PANIC_VARIABLE: &str = "BOT_BOTTLE_TEST_TUI_PANIC";

const SIGINT: i32 = 2;
const SIGTERM: i32 = 15;
