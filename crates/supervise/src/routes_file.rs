//! Applying approved route changes to the egress routes file, atomically.
//!
//! The routes file (YAML in the schema of a manifest's `egress:` section) is
//! read by the egress sidecar, which re-reads it when its bytes change, and
//! written by the supervise sidecar, and only by it, when the operator
//! approves an `egress-allow` or `egress-block`. Each change is a
//! read-modify-write under an exclusive `flock` on a lock file beside the
//! routes file (`.<name>.lock`), so two approvals that race — two tool calls
//! in this process, or two processes sharing the file — are applied one
//! after the other, each on top of the other's result: neither is lost.
//! The new file is written to a temp file in the same directory, fsynced,
//! renamed over the old one and the directory fsynced, so egress sees the
//! old routes or the new ones, never half a file. Mount the *directory*
//! into the sidecars, not the file: a rename replaces the inode a file bind
//! mount would pin.
//!
//! Idempotence (the queue's rule for acting on a response): the file's
//! leading comment lists the ids of the proposals applied to it, written in
//! the same atomic rename as the change, so acting on the same approval
//! twice (a crash between acting and archiving) changes nothing the second
//! time. Comments other than that header are not kept by a rewrite.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use bot_bottle_manifest::model::{BottleFile, Egress, Route};
use bot_bottle_queue::ProposalId;

/// The comment line that lists the proposals applied to the file.
pub const APPLIED_PREFIX: &str = "# bot-bottle supervise applied:";
/// How many applied ids the header keeps (the newest); far more than can be
/// answered-but-not-archived at once.
pub const MAX_APPLIED_IDS: usize = 256;
/// The first line of a file supervise wrote.
const BANNER: &str = "# Egress routes. Written by bot-bottle supervise when the operator approves a change; comments are not kept.";

/// A change to the routes in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Add this route (after the others). An identical route already in
    /// force is not added twice.
    Allow(Route),
    /// Remove every route for `host` (compared without regard to case);
    /// with `keep`, put that route where the first removed one stood.
    Block { host: String, keep: Option<Route> },
}

/// What applying a change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The routes changed.
    Applied,
    /// The change was already in the file (this proposal was applied
    /// before, or an identical route was in force); only the id was noted.
    AlreadyInForce,
}

#[derive(Debug, thiserror::Error)]
pub enum RoutesFileError {
    #[error("cannot {operation} {path}")]
    Io {
        operation: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("routes file {path} is not valid YAML for an `egress:` section: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("the change would make routes file {path} invalid: {}", problems.join("; "))]
    Invalid {
        path: PathBuf,
        problems: Vec<String>,
    },
}

/// The routes file one supervise sidecar maintains.
#[derive(Debug, Clone)]
pub struct RoutesFile {
    path: PathBuf,
}

/// The file's contents: what was applied, and the section itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contents {
    pub applied: Vec<String>,
    pub egress: Egress,
}

impl RoutesFile {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The routes in force, as the file says now. A missing file is no
    /// routes (everything denied), as egress would read an empty one.
    pub fn read(&self) -> Result<Contents, RoutesFileError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(source) => {
                return Err(RoutesFileError::Io {
                    operation: "read",
                    path: self.path.clone(),
                    source,
                });
            }
        };
        parse(&self.path, &text)
    }

    /// Apply `change`, approved in proposal `id`, atomically; see the
    /// module docs for the locking and idempotence. Blocks (file lock and
    /// fsync): call it off the async pool.
    pub fn apply(&self, id: &ProposalId, change: &Change) -> Result<Outcome, RoutesFileError> {
        let _lock = self.lock()?;
        let mut contents = self.read()?;
        let id = id.to_string();
        if contents.applied.contains(&id) {
            return Ok(Outcome::AlreadyInForce);
        }
        let changed = change_routes(&mut contents.egress.routes, change);
        check(&self.path, &contents.egress)?;
        contents.applied.push(id);
        let excess = contents.applied.len().saturating_sub(MAX_APPLIED_IDS);
        contents.applied.drain(..excess);
        self.write(&contents)?;
        Ok(if changed {
            Outcome::Applied
        } else {
            Outcome::AlreadyInForce
        })
    }

    /// The exclusive lock every writer takes; released when dropped.
    fn lock(&self) -> Result<File, RoutesFileError> {
        let name = self
            .path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_else(|| "routes".to_string());
        let lock_path = self.directory().join(format!(".{name}.lock"));
        let io = |operation, source| RoutesFileError::Io {
            operation,
            path: lock_path.clone(),
            source,
        };
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|source| io("open the lock file", source))?;
        rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|errno| io("lock", std::io::Error::from(errno)))?;
        Ok(file)
    }

    fn directory(&self) -> PathBuf {
        match self.path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    fn write(&self, contents: &Contents) -> Result<(), RoutesFileError> {
        let directory = self.directory();
        let io = |operation, source| RoutesFileError::Io {
            operation,
            path: self.path.clone(),
            source,
        };
        let text = render(contents).map_err(|message| RoutesFileError::Parse {
            path: self.path.clone(),
            message,
        })?;
        let mut temp = tempfile::Builder::new()
            .prefix(".routes-")
            .tempfile_in(&directory)
            .map_err(|source| io("create a temp file beside", source))?;
        temp.write_all(text.as_bytes())
            .map_err(|source| io("write", source))?;
        // Keep the old file's mode (egress may run as another user); a new
        // file is world-readable like any config (it holds no secret).
        let mode = std::fs::metadata(&self.path)
            .map(|metadata| metadata.permissions())
            .unwrap_or_else(|_| std::os::unix::fs::PermissionsExt::from_mode(0o644));
        temp.as_file()
            .set_permissions(mode)
            .map_err(|source| io("set the mode of", source))?;
        temp.as_file()
            .sync_all()
            .map_err(|source| io("sync", source))?;
        temp.persist(&self.path)
            .map_err(|error| io("replace", error.error))?;
        File::open(&directory)
            .and_then(|dir| dir.sync_all())
            .map_err(|source| io("sync the directory of", source))?;
        Ok(())
    }
}

/// Change `routes`; whether anything changed.
fn change_routes(routes: &mut Vec<Route>, change: &Change) -> bool {
    match change {
        Change::Allow(route) => {
            if routes.contains(route) {
                return false;
            }
            routes.push(route.clone());
            true
        }
        Change::Block { host, keep } => {
            let first = routes
                .iter()
                .position(|route| route.host.eq_ignore_ascii_case(host));
            let before = routes.clone();
            routes.retain(|route| !route.host.eq_ignore_ascii_case(host));
            if let Some(keep) = keep {
                let at = first.unwrap_or(routes.len()).min(routes.len());
                routes.insert(at, keep.clone());
            }
            *routes != before
        }
    }
}

/// The whole section must stay valid: egress would refuse a bad file and
/// keep the old routes, silently undoing the approval.
fn check(path: &Path, egress: &Egress) -> Result<(), RoutesFileError> {
    let probe = BottleFile {
        egress: Some(egress.clone()),
        ..BottleFile::default()
    };
    let problems: Vec<String> = bot_bottle_manifest::validate::validate(&probe)
        .into_iter()
        .map(|finding| {
            let field = finding.path.to_string();
            let field = field.strip_prefix("egress.").unwrap_or(&field).to_string();
            format!("{field}: {}", finding.message)
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(RoutesFileError::Invalid {
            path: path.to_path_buf(),
            problems,
        })
    }
}

fn parse(path: &Path, text: &str) -> Result<Contents, RoutesFileError> {
    let applied = text
        .lines()
        .take_while(|line| line.starts_with('#'))
        .filter_map(|line| line.strip_prefix(APPLIED_PREFIX))
        .flat_map(str::split_whitespace)
        .map(str::to_string)
        .collect();
    let egress: Option<Egress> =
        serde_saphyr::from_str(text).map_err(|error| RoutesFileError::Parse {
            path: path.to_path_buf(),
            message: error.to_string(),
        })?;
    Ok(Contents {
        applied,
        egress: egress.unwrap_or_default(),
    })
}

fn render(contents: &Contents) -> Result<String, String> {
    let yaml = serde_saphyr::to_string(&contents.egress).map_err(|error| error.to_string())?;
    let mut text = format!("{BANNER}\n");
    if !contents.applied.is_empty() {
        text.push_str(&format!(
            "{APPLIED_PREFIX} {}\n",
            contents.applied.join(" ")
        ));
    }
    text.push_str(&yaml);
    Ok(text)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use bot_bottle_manifest::model::EgressLog;

    fn route(host: &str, paths: &[&str]) -> Route {
        Route {
            host: host.to_string(),
            paths: (!paths.is_empty()).then(|| paths.iter().map(|p| p.to_string()).collect()),
            ..Route::default()
        }
    }

    fn file_with(text: &str) -> (tempfile::TempDir, RoutesFile) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("routes.yaml");
        std::fs::write(&path, text).unwrap();
        (dir, RoutesFile::new(path))
    }

    #[test]
    fn allow_appends_and_keeps_log_and_other_routes() {
        let (_dir, file) = file_with("log: full\nroutes:\n  - host: a.example\n");
        let id = ProposalId::generate();
        let outcome = file
            .apply(&id, &Change::Allow(route("b.example", &["/v1/"])))
            .unwrap();
        assert_eq!(outcome, Outcome::Applied);
        let contents = file.read().unwrap();
        assert_eq!(contents.egress.log, Some(EgressLog::Full));
        let hosts: Vec<_> = contents
            .egress
            .routes
            .iter()
            .map(|r| r.host.as_str())
            .collect();
        assert_eq!(hosts, ["a.example", "b.example"]);
        assert_eq!(contents.applied, [id.to_string()]);
    }

    #[test]
    fn applying_the_same_proposal_twice_changes_nothing() {
        let (_dir, file) = file_with("routes: []\n");
        let id = ProposalId::generate();
        let change = Change::Block {
            host: "x.example".into(),
            keep: None,
        };
        file.apply(&id, &Change::Allow(route("x.example", &[])))
            .unwrap();
        // A second, different proposal removes it; re-applying the first
        // (a crash before archiving) must not bring it back.
        file.apply(&ProposalId::generate(), &change).unwrap();
        let again = file
            .apply(&id, &Change::Allow(route("x.example", &[])))
            .unwrap();
        assert_eq!(again, Outcome::AlreadyInForce);
        assert!(file.read().unwrap().egress.routes.is_empty());
    }

    #[test]
    fn block_removes_every_route_for_the_host_and_keeps_the_narrowed_one_in_place() {
        let (_dir, file) = file_with(
            "routes:\n  - host: a.example\n  - host: API.example\n    paths: [/]\n  - host: api.example\n    methods: [POST]\n  - host: z.example\n",
        );
        let keep = route("api.example", &["/v1/read"]);
        file.apply(
            &ProposalId::generate(),
            &Change::Block {
                host: "api.example".into(),
                keep: Some(keep.clone()),
            },
        )
        .unwrap();
        let routes = file.read().unwrap().egress.routes;
        assert_eq!(routes.len(), 3);
        assert_eq!(routes[0].host, "a.example");
        assert_eq!(routes[1], keep);
        assert_eq!(routes[2].host, "z.example");
    }

    #[test]
    fn a_missing_file_is_no_routes_and_is_created() {
        let dir = tempfile::tempdir().unwrap();
        let file = RoutesFile::new(dir.path().join("routes.yaml"));
        assert!(file.read().unwrap().egress.routes.is_empty());
        file.apply(
            &ProposalId::generate(),
            &Change::Allow(route("a.example", &[])),
        )
        .unwrap();
        assert_eq!(file.read().unwrap().egress.routes.len(), 1);
    }

    #[test]
    fn an_invalid_result_is_refused_and_nothing_is_written() {
        let (_dir, file) = file_with("routes:\n  - host: a.example\n");
        let before = std::fs::read_to_string(file.path()).unwrap();
        let bad = Route {
            host: "bad host\nx".into(),
            ..Route::default()
        };
        let error = file
            .apply(&ProposalId::generate(), &Change::Allow(bad))
            .unwrap_err();
        assert!(matches!(error, RoutesFileError::Invalid { .. }), "{error}");
        assert!(error.to_string().contains("routes[1].host"), "{error}");
        assert_eq!(std::fs::read_to_string(file.path()).unwrap(), before);
    }

    #[test]
    fn a_malformed_file_is_an_error_naming_it_and_is_left_alone() {
        let (_dir, file) = file_with("routes: [\n");
        let error = file
            .apply(
                &ProposalId::generate(),
                &Change::Allow(route("a.example", &[])),
            )
            .unwrap_err();
        assert!(error.to_string().contains("routes.yaml"), "{error}");
        assert_eq!(std::fs::read_to_string(file.path()).unwrap(), "routes: [\n");
    }

    #[test]
    fn racing_approvals_are_all_applied() {
        let (_dir, file) = file_with("routes: []\n");
        let threads: Vec<_> = (0..8)
            .map(|index| {
                let file = file.clone();
                std::thread::spawn(move || {
                    file.apply(
                        &ProposalId::generate(),
                        &Change::Allow(route(&format!("h{index}.example"), &[])),
                    )
                    .unwrap()
                })
            })
            .collect();
        for thread in threads {
            assert_eq!(thread.join().unwrap(), Outcome::Applied);
        }
        let contents = file.read().unwrap();
        assert_eq!(contents.egress.routes.len(), 8);
        assert_eq!(contents.applied.len(), 8);
    }

    #[test]
    fn the_applied_header_is_bounded() {
        let (_dir, file) = file_with("");
        for _ in 0..MAX_APPLIED_IDS + 3 {
            file.apply(
                &ProposalId::generate(),
                &Change::Allow(route("a.example", &[])),
            )
            .unwrap();
        }
        assert_eq!(file.read().unwrap().applied.len(), MAX_APPLIED_IDS);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// Whatever is in the file, reading it is a value or an error
            /// naming the file — never a panic.
            #[test]
            fn any_text_reads_or_errs(text in any::<String>()) {
                match parse(Path::new("routes.yaml"), &text) {
                    Ok(_) => {}
                    Err(error) => prop_assert!(error.to_string().contains("routes.yaml")),
                }
            }

            /// A written file reads back as what was written, applied ids
            /// and all, for any hosts and paths the rules accept.
            #[test]
            fn what_is_written_reads_back(
                hosts in proptest::collection::vec("[a-z]([a-z0-9-]{0,8}[a-z0-9])?\\.(com|dev|test)", 1..6),
                path in "/[a-z0-9/_-]{0,20}",
            ) {
                let (_dir, file) = file_with("routes: []\n");
                for host in &hosts {
                    file.apply(&ProposalId::generate(), &Change::Allow(route(host, &[path.as_str()]))).unwrap();
                }
                let contents = file.read().unwrap();
                let mut expected: Vec<Route> = Vec::new();
                for host in &hosts {
                    let route = route(host, &[path.as_str()]);
                    if !expected.contains(&route) {
                        expected.push(route);
                    }
                }
                prop_assert_eq!(contents.egress.routes, expected);
                prop_assert_eq!(contents.applied.len(), hosts.len());
            }
        }
    }
}
