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
    };
    tracing::subscriber::with_default(tracing::subscriber::NoSubscriber::default(), || {
        tui::run(&options)
    })?;
    Ok(SUCCESS)
}
