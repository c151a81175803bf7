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
//!
//! The crash path carries context: a failure of the UI is logged with
//! `error_type` (`terminal`), and a panic — after the terminal is back and
//! Rust's message printed — writes a crash log (message, place, backtrace)
//! under the state directory's `crash/` and logs
//! `error: bot-bottle supervise crashed [crash_log=PATH error_type=panic]`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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
    log_crashes_with_context(
        environment::state_dir()
            .unwrap_or_else(std::env::temp_dir)
            .join(CRASH_DIR),
    );
    let ran =
        tracing::subscriber::with_default(tracing::subscriber::NoSubscriber::default(), || {
            tui::run(&options)
        });
    if let Err(error) = ran {
        let kind = error.kind();
        let error = anyhow::Error::from(error);
        tracing::error!(error_type = kind, "bot-bottle supervise failed: {error:#}");
        return Ok(crate::exit::code_for(&error));
    }
    Ok(SUCCESS)
}

/// Where crash logs go, under the state directory.
const CRASH_DIR: &str = "crash";

/// Chain a panic hook that, after the hooks before it (ratatui's restores
/// the terminal, Rust's prints the message), writes a crash log in `dir`
/// and prints an error line naming it. The UI runs with logging off on its
/// thread, so the line is rendered and written here, as `logging` would.
fn log_crashes_with_context(dir: PathBuf) {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        previous(info);
        let backtrace = std::backtrace::Backtrace::force_capture();
        let mut context = BTreeMap::from([("error_type".to_string(), "panic".to_string())]);
        match write_crash_log(&dir, &format!("{info}\n\nbacktrace:\n{backtrace}\n")) {
            Ok(path) => {
                context.insert("crash_log".into(), path.display().to_string());
            }
            Err(error) => {
                context.insert("crash_log_error".into(), error.to_string());
            }
        }
        eprintln!(
            "{}",
            crate::logging::render_line(
                &tracing::Level::ERROR,
                "bot-bottle supervise crashed",
                &context
            )
        );
    }));
}

/// Write `text` to a new file in `dir` named for this moment and process.
fn write_crash_log(dir: &Path, text: &str) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    let path = dir.join(format!("supervise-{seconds}-{}.log", std::process::id()));
    std::fs::write(&path, text)?;
    Ok(path)
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
