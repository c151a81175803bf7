//! Where queues live on the operator's host: one directory per bottle under
//! the state directory, `<state>/queues/<bottle>/` (the CLI passes
//! `$XDG_STATE_HOME/bot-bottle` as `<state>`). The launcher creates a
//! bottle's queue and mounts it into that bottle's sidecars; the operator's
//! tools find every queue by listing `<state>/queues/`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::QueueError;

/// The directory under the state directory that holds one queue per bottle.
pub const QUEUES_DIR: &str = "queues";

/// `<state>/queues/<bottle>`; the name must be a plain file name.
pub fn bottle_queue_dir(state_dir: &Path, bottle: &str) -> Result<PathBuf, QueueError> {
    let plain = !bottle.is_empty()
        && !bottle.starts_with('.')
        && bottle
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.'));
    if !plain {
        return Err(QueueError::InvalidBottleName {
            name: bottle.to_string(),
        });
    }
    Ok(state_dir.join(QUEUES_DIR).join(bottle))
}

/// Every bottle's queue directory under `state_dir`, sorted by name. No
/// `queues/` directory yet means no queues.
pub fn discover_queues(state_dir: &Path) -> Result<Vec<PathBuf>, QueueError> {
    let root = state_dir.join(QUEUES_DIR);
    let reader = match fs::read_dir(&root) {
        Ok(reader) => reader,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(QueueError::io("list the queues in", &root)(error)),
    };
    let mut dirs = Vec::new();
    for item in reader {
        let item = item.map_err(QueueError::io("list the queues in", &root))?;
        let is_dir = item
            .file_type()
            .map_err(QueueError::io("inspect", item.path()))?
            .is_dir();
        let hidden = item.file_name().to_string_lossy().starts_with('.');
        if is_dir && !hidden {
            dirs.push(item.path());
        }
    }
    dirs.sort();
    Ok(dirs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bottle_dirs_are_plain_names_under_queues() {
        let state = Path::new("/state");
        assert_eq!(
            bottle_queue_dir(state, "dev-1").unwrap(),
            Path::new("/state/queues/dev-1")
        );
        for bad in ["", "..", ".hidden", "a/b", "a b"] {
            assert!(bottle_queue_dir(state, bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn discovery_lists_bottle_dirs_sorted_and_tolerates_no_state() {
        let state = tempfile::tempdir().unwrap();
        assert!(discover_queues(state.path()).unwrap().is_empty());
        for name in ["zeta", "alpha", ".hidden"] {
            fs::create_dir_all(state.path().join(QUEUES_DIR).join(name)).unwrap();
        }
        fs::write(state.path().join(QUEUES_DIR).join("stray-file"), "x").unwrap();
        let found = discover_queues(state.path()).unwrap();
        assert_eq!(
            found,
            vec![
                state.path().join("queues/alpha"),
                state.path().join("queues/zeta")
            ]
        );
    }
}
