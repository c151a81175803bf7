//! Scanning the commits of a push, one commit at a time.
//!
//! A secret added in one commit and removed in the next is invisible in the
//! push's combined diff, so every new commit (every commit the push brings
//! that no branch or tag of the mirror reaches) is scanned on its own:
//!
//! - its raw object as stored: every header line (author, committer,
//!   `gpgsig`, `mergetag`, `encoding`, any other) and the message bytes,
//!   plus the message as `git log` shows it when that differs; a commit
//!   with an `encoding` header is also scanned whole as git shows it
//!   re-encoded, headers too (`git rev-list --header`: in UTF-7 an author
//!   `AKIA+AFo-…` is shown as a key the raw bytes do not hold); an
//!   annotated tag whole;
//! - the full content of every file it adds or changes against its first
//!   parent (the empty tree for a root commit; a merge's first-parent
//!   changes bring in whatever its other parents added);
//! - the path of every file it adds or changes (a secret in a file name,
//!   and a repo's rules on file names: a `*.p12` key store is a finding
//!   whatever it holds).
//!
//! The name of every ref the push creates or updates is scanned too
//! ([`REF_NAME_FILE`]): a branch or lightweight tag named after a secret
//! goes upstream with its name even when it points at a commit upstream
//! already has. A deletion's name is upstream already and is not scanned.
//! A name with a match is never shown as it is: every finding's
//! `reference` names it masked ([`MaskedNames`]).
//!
//! That covers the commit's diff without generating it: every added or
//! context line of the diff is a line of a new file's content, which is
//! scanned whole; a removed line is a line of the first parent's file,
//! which is either upstream already (a mirror branch or tag reaches it) or the
//! content of a new commit that added or changed it earlier in the walk,
//! scanned there (by induction from the root: every file of a new commit's
//! tree is either a parent's or added or changed by that commit). The diff
//! adds nothing else but headers (paths, modes, blob ids). Scanning whole
//! files also sees what a diff's three context lines would hide (a rule
//! that needs a keyword a few lines away). So a finding's `line` is the
//! line in the file's content, not in a diff.
//!
//! What a ref points at is scanned too: an annotated tag whole (and a tag
//! it points at, and so on), a blob a ref or tag points at directly, and
//! every file (content and path) of a tree a ref or tag points at directly
//! (no commit walk reaches those).
//!
//! "Already upstream" means reached by the mirror's branches and tags only:
//! the refresh from upstream prunes those (`fetch --prune`), so they are
//! what upstream has, while a ref elsewhere (a `refs/keep/*` the rules let
//! the agent push) stays in the mirror after upstream deletes it. The
//! server refreshes a mirror older than `push_mirror_max_age` before a
//! push is checked.
//!
//! The detectors sit behind [`CommitScanner`], a one-method seam: the DLP
//! engine (`bot_bottle_dlp::Scanner`) in production, a small stand-in in
//! tests. A scanner reports byte spans; this module turns them into a file,
//! a line number and a snippet with every match on that line replaced by its
//! masked preview, so nothing secret reaches a log, a proposal or the agent
//! (a path with a match is named [`PATH_FILE`], never by itself, and a
//! finding in that file's content, or an error about the file, names it
//! with every match in it masked).
//!
//! It is one pipeline, not one process per commit: a `git log --raw`
//! stream (the walk of the new commits, each one's message and the blobs
//! and paths it adds or changes, no patch text) read as it comes; one `git
//! cat-file --batch` process asked for each commit's new blobs as soon as
//! that commit's part of the log has arrived; and the detectors on a few
//! blocking threads ([`MAX_SCAN_THREADS`]), one commit at a time each,
//! findings put back in log order. A blob already scanned in this push
//! (the same file content in another commit or under another name) is not
//! read or scanned again — the same content gives the same findings, which
//! are reported again for every commit and path that adds it.
//!
//! Memory and work are bounded per push ([`ScanLimits`]): the object
//! reader holds an object's size of a byte budget
//! ([`MAX_SCAN_BYTES_IN_FLIGHT`]) before reading its content and the
//! threads give it back once scanned; each file's content is its own piece
//! of work, so a commit with more than the budget streams a file at a time.
//! The log's parts waiting for their objects hold a quarter more
//! ([`LOG_BUDGET_SHARE`]). A push bringing more than
//! [`MAX_SCANNED_BYTES_PER_PUSH`] to scan (objects, and each commit's
//! listing of the paths it changes) is refused.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::ffi::OsString;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use crate::error::{GateError, Result};
use crate::git::{Invocation, Streaming, is_oid};
use crate::hook::RefUpdate;

/// The largest file the gate will scan; a push adding a bigger one is
/// refused (a secret could hide past any cut-off).
pub const MAX_SCANNED_BLOB_BYTES: u64 = 100 * 1024 * 1024;
/// The most bytes of objects read for the scan (file content, commit
/// objects) held in memory at once for one push: the object reader waits
/// for the detectors to finish with some before it reads more. One object
/// larger than this (up to [`MAX_SCANNED_BLOB_BYTES`]) is read when
/// nothing else is held.
pub const MAX_SCAN_BYTES_IN_FLIGHT: u64 = 256 * 1024 * 1024;
/// The most bytes one push may bring to be scanned: the sizes of every
/// new file content, commit object and pushed tag, each counted once, and
/// of each new commit's `git log --raw` listing of what it changes (a
/// commit flipping a tree of many names back and forth lists them all
/// again from a pack of a few objects); a push bringing more is refused
/// before it is all read.
pub const MAX_SCANNED_BYTES_PER_PUSH: u64 = 1024 * 1024 * 1024;

/// The scan's memory and work bounds ([`ScanLimits::default`] has the
/// constants; tests use small ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanLimits {
    /// [`MAX_SCAN_BYTES_IN_FLIGHT`].
    pub bytes_in_flight: u64,
    /// [`MAX_SCANNED_BYTES_PER_PUSH`].
    pub bytes_per_push: u64,
}

impl Default for ScanLimits {
    fn default() -> Self {
        Self {
            bytes_in_flight: MAX_SCAN_BYTES_IN_FLIGHT,
            bytes_per_push: MAX_SCANNED_BYTES_PER_PUSH,
        }
    }
}
/// The most characters of a snippet shown around a match.
pub const MAX_SNIPPET_CHARS: usize = 160;
/// The `file` of a finding in a commit message.
pub const COMMIT_MESSAGE_FILE: &str = "(commit message)";
/// The `file` of a finding in a commit's headers (author, committer,
/// `gpgsig`, `mergetag`, `encoding`, any other header line).
pub const COMMIT_HEADER_FILE: &str = "(commit header)";
/// The `file` of a finding in an annotated tag.
pub const TAG_MESSAGE_FILE: &str = "(tag message)";
/// The `file` of a finding in a file's path (the path itself is shown
/// only masked, in the snippet).
pub const PATH_FILE: &str = "(file path)";
/// The `file` of a finding in the name of a ref the push creates or
/// updates (the name is shown only masked: in the snippet, and as every
/// finding's `reference`).
pub const REF_NAME_FILE: &str = "(ref name)";

/// One match a detector made, as byte offsets into the scanned content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentFinding {
    /// The rule or detector name (`aws-access-key-id`, a held secret's variable).
    pub rule: String,
    pub start: usize,
    pub end: usize,
    /// A masked preview of the match, safe to show.
    pub preview: String,
}

/// The seam to the secret detectors: scan one blob, message or list of paths.
/// Only findings that should hold a push are returned (no warnings).
pub trait CommitScanner: Send + Sync {
    fn scan(&self, content: &[u8]) -> Vec<ContentFinding>;

    /// This scanner plus the rules of a repo's own rules file
    /// ([`REPO_RULES_FILE`], or `.gitleaks.toml` translated), already
    /// parsed. `Ok(None)`: extra rules are not supported and this scanner is
    /// used as it is. An error says why the rules were refused.
    fn with_rules(
        &self,
        rules: bot_bottle_dlp::RuleSet,
    ) -> Result<Option<std::sync::Arc<dyn CommitScanner>>, String> {
        let _ = rules;
        Ok(None)
    }

    /// The rules on file names (a repo's gitleaks `path`-only rules) that
    /// `path` matches, as (rule, description): such a file is a finding
    /// whatever it holds. None by default.
    fn file_name_findings(&self, path: &str) -> Vec<(String, String)> {
        let _ = path;
        Vec::new()
    }
}

/// A repo's own rules file, read from the mirror's `HEAD` (upstream's
/// default branch as last fetched, never the push being checked), in the
/// DLP engine's rule format. Its rules come on top of the built-in ones.
pub const REPO_RULES_FILE: &str = ".bot-bottle/dlp-rules.toml";

/// A scanner that finds nothing (a gate with scanning turned off).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoScanner;

impl CommitScanner for NoScanner {
    fn scan(&self, _content: &[u8]) -> Vec<ContentFinding> {
        Vec::new()
    }
}

/// A finding placed in the push: which commit, ref, file and line.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CommitFinding {
    pub reference: String,
    pub commit: String,
    pub file: String,
    /// 1-based line in `file`'s content as of `commit` (in the message for
    /// a message; for [`PATH_FILE`], the path's place among the paths the
    /// commit adds or changes, in git's order); 0 for a rule on file names
    /// (the file as a whole).
    pub line: u64,
    pub rule: String,
    /// The line with every match on it replaced by its masked preview.
    pub snippet: String,
}

/// Why a push could not be scanned.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error(
        "{file} in commit {commit} is larger than {MAX_SCANNED_BLOB_BYTES} bytes; the gate cannot scan it"
    )]
    TooLarge { commit: String, file: String },
    #[error(
        "commit {commit}'s message and list of changed paths are larger than {MAX_LOG_COMMIT_BYTES} bytes; the gate cannot scan it"
    )]
    CommitTooLarge { commit: String },
    #[error(
        "the listing of tree {tree}, which a pushed ref or tag points at, is larger than {MAX_LOG_COMMIT_BYTES} bytes; the gate cannot scan it"
    )]
    TreeTooLarge { tree: String },
    #[error(
        "the push brings more than {limit} bytes to scan (file contents, commit and tag objects, the lists of the paths each commit changes); push fewer commits at a time (what upstream has is not scanned again)"
    )]
    PushTooLarge { limit: u64 },
    #[error(transparent)]
    Git(#[from] GateError),
}

/// Where git finds the push's objects: the mirror plus the quarantine.
#[derive(Debug, Clone)]
pub struct ObjectAccess {
    pub env: Vec<(String, OsString)>,
}

impl ObjectAccess {
    /// The mirror at `git_dir`, with the push's quarantined objects visible.
    pub fn new(git_dir: &Path, quarantine: Option<&Path>) -> Self {
        let mut env = vec![("GIT_DIR".to_string(), git_dir.as_os_str().to_owned())];
        if let Some(quarantine) = quarantine {
            env.push((
                "GIT_OBJECT_DIRECTORY".to_string(),
                quarantine.as_os_str().to_owned(),
            ));
            env.push((
                "GIT_ALTERNATE_OBJECT_DIRECTORIES".to_string(),
                git_dir.join("objects").into_os_string(),
            ));
        }
        Self { env }
    }

    pub fn git<I, S>(&self, args: I) -> Invocation
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        Invocation::git(args).envs(&self.env)
    }
}

/// A new commit and the first ref of the push that brings it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCommit {
    pub id: String,
    pub reference: String,
}

/// The commits the push brings that no mirror branch or tag reaches, oldest first,
/// each attributed to the first ref (in push order) that brings it.
pub async fn new_commits(
    access: &ObjectAccess,
    updates: &[RefUpdate],
    timeout: Duration,
) -> Result<Vec<NewCommit>> {
    let mut seen = BTreeSet::new();
    let mut commits = Vec::new();
    for update in updates.iter().filter(|update| !update.is_delete()) {
        let output = access
            .git([
                "rev-list",
                "--reverse",
                "--topo-order",
                update.new.as_str(),
                "--not",
                "--branches",
                "--tags",
            ])
            .checked(b"", timeout)
            .await?;
        for id in String::from_utf8_lossy(&output).lines() {
            if is_oid(id) && seen.insert(id.to_string()) {
                commits.push(NewCommit {
                    id: id.to_string(),
                    reference: update.reference.clone(),
                });
            }
        }
    }
    Ok(commits)
}

/// The most threads running the detectors for one push.
pub const MAX_SCAN_THREADS: usize = 4;
/// How many commits the `git log` reader may run ahead of the object
/// reader (their bytes are bounded by the log's budget too).
pub const SCAN_QUEUE_COMMITS: usize = 64;
/// The `file` of a finding in a blob a ref or tag points at directly.
pub const PUSHED_OBJECT_FILE: &str = "(pushed object)";
/// The most commits handed to a detector thread at once.
pub const SCAN_BATCH_COMMITS: usize = 16;
/// A batch is handed on once it holds this many bytes of content.
pub const SCAN_BATCH_BYTES: usize = 256 * 1024;
/// Size of each read from the `git log` stream.
const LOG_READ_CHUNK_BYTES: usize = 64 * 1024;
/// The log's parts (messages, changed paths) waiting for their objects may
/// hold this fraction of [`ScanLimits::bytes_in_flight`], on top of it.
pub const LOG_BUDGET_SHARE: u64 = 4;
/// The most bytes of one commit's part of the `git log` stream (its
/// message and the list of what it changes); a commit with more is
/// refused, as a commit object over [`MAX_SCANNED_BLOB_BYTES`] is. The
/// same bound holds the recursive listing of a tree a ref or tag points
/// at.
pub const MAX_LOG_COMMIT_BYTES: usize = 2 * MAX_SCANNED_BLOB_BYTES as usize;

/// One commit's content, ready for the detectors.
struct CommitWork {
    /// Position in the log (findings are reported in this order).
    index: usize,
    commit: String,
    /// The commit object as stored (headers, blank line, message bytes).
    raw: Vec<u8>,
    /// The message as `git log` shows it (re-encoded to UTF-8 when the
    /// commit has an `encoding` header).
    message: Vec<u8>,
    /// Every path the commit adds or changes.
    paths: Vec<String>,
    /// `(blob id, path)` of each file added or changed, in the log's
    /// order (each blob's content is its own [`Work::Blob`], read and
    /// scanned once per push).
    files: Vec<(String, String)>,
    /// The bytes held for `raw` and for the log's part (released once
    /// scanned).
    _held: (Held, Held),
}

/// What the detector threads scan: a commit (its object, message and
/// paths) or one file's content, each holding its bytes of the budget
/// until it is scanned and dropped.
enum Work {
    Commit(CommitWork),
    Blob {
        blob: String,
        content: Vec<u8>,
        _held: Held,
    },
}

impl Work {
    fn bytes(&self) -> usize {
        match self {
            Self::Commit(work) => {
                work.raw.len()
                    + work.message.len()
                    + work.paths.iter().map(String::len).sum::<usize>()
            }
            Self::Blob { content, .. } => content.len(),
        }
    }
}

/// What one detector thread scanned.
#[derive(Default)]
struct Done {
    commits: Vec<ScannedCommit>,
    /// The findings of each file content scanned.
    blobs: Vec<(String, Vec<BlobFinding>)>,
}

/// Bytes the scan may hold at once, as semaphore permits (one per byte).
/// A request is cut to the whole budget, so one object larger than it is
/// read when nothing else is held, never waits forever.
struct Budget {
    permits: Arc<tokio::sync::Semaphore>,
    capacity: u32,
}

/// Bytes held of a [`Budget`], given back when dropped.
#[derive(Debug)]
struct Held {
    _permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl Budget {
    fn new(bytes: u64) -> Self {
        let capacity = u32::try_from(bytes.max(1)).unwrap_or(u32::MAX);
        Self {
            permits: Arc::new(tokio::sync::Semaphore::new(capacity as usize)),
            capacity,
        }
    }

    fn share(&self, bytes: u64) -> u32 {
        u32::try_from(bytes).unwrap_or(u32::MAX).min(self.capacity)
    }

    /// Take `bytes` if they are free now.
    fn try_take(&self, bytes: u64) -> Option<Held> {
        match self.share(bytes) {
            0 => Some(Held { _permit: None }),
            share => Arc::clone(&self.permits)
                .try_acquire_many_owned(share)
                .ok()
                .map(|permit| Held {
                    _permit: Some(permit),
                }),
        }
    }

    /// Take `bytes`, waiting until they are free.
    async fn take(&self, bytes: u64) -> Held {
        match self.share(bytes) {
            0 => Held { _permit: None },
            share => Held {
                _permit: Arc::clone(&self.permits)
                    .acquire_many_owned(share)
                    .await
                    .ok(),
            },
        }
    }
}

/// The object reader's batches for the detector threads: what has arrived,
/// handed on at a size (a thread wake-up per small commit costs more than
/// scanning it).
struct Batcher {
    batch: Vec<Work>,
    bytes: usize,
    sender: tokio::sync::mpsc::Sender<Vec<Work>>,
}

impl Batcher {
    /// Add one item; `false`: the threads are gone.
    async fn push(&mut self, item: Work) -> bool {
        self.bytes += item.bytes();
        self.batch.push(item);
        if self.batch.len() >= SCAN_BATCH_COMMITS || self.bytes >= SCAN_BATCH_BYTES {
            return self.flush().await;
        }
        true
    }

    /// Hand on what is batched; `false`: the threads are gone.
    async fn flush(&mut self) -> bool {
        if self.batch.is_empty() {
            return true;
        }
        self.bytes = 0;
        self.sender
            .send(std::mem::take(&mut self.batch))
            .await
            .is_ok()
    }

    /// Hold `bytes` of `budget` for the next object: at once when free,
    /// else after handing on the batch (what it holds must reach the
    /// threads to be given back). `None`: the threads are gone.
    async fn hold(&mut self, budget: &Budget, bytes: u64) -> Option<Held> {
        if let Some(held) = budget.try_take(bytes) {
            return Some(held);
        }
        if !self.flush().await {
            return None;
        }
        Some(budget.take(bytes).await)
    }
}

/// One commit, scanned.
struct ScannedCommit {
    index: usize,
    commit: String,
    /// Findings in the headers and the message.
    message: Vec<CommitFinding>,
    /// `(blob id, path)` of each file added or changed, in the log's order.
    files: Vec<(String, String)>,
    /// Findings in the paths.
    paths: Vec<CommitFinding>,
    /// Each path with a finding, masked (how a finding in its file's
    /// content names it).
    masked_paths: HashMap<String, String>,
}

/// A finding in a blob's content, placed in that content; the commit and
/// file are those of each commit that adds the blob, under each path.
#[derive(Debug, Clone)]
struct BlobFinding {
    line: u64,
    rule: String,
    snippet: String,
}

impl BlobFinding {
    fn at(&self, commit: &str, reference: &str, file: &str) -> CommitFinding {
        CommitFinding {
            reference: reference.to_string(),
            commit: commit.to_string(),
            file: file.to_string(),
            line: self.line,
            rule: self.rule.clone(),
            snippet: self.snippet.clone(),
        }
    }
}

/// Scan one blob's content.
fn scan_blob(content: &[u8], scanner: &dyn CommitScanner) -> Vec<BlobFinding> {
    let found = scanner.scan(content);
    found
        .iter()
        .map(|finding| BlobFinding {
            line: line_number(content, finding.start),
            rule: finding.rule.clone(),
            snippet: snippet(content, finding, &found),
        })
        .collect()
}

/// Scan every new commit (and each pushed annotated tag) of a push.
///
/// One pipeline, not one process per commit: a `git log --raw` stream
/// (the walk, every commit's message and the files it adds or changes),
/// read as it comes; one `git cat-file --batch` fed the ids of the blobs
/// each commit adds or changes as soon as its part of the log has arrived
/// (a blob already scanned in this push is not fetched or scanned again:
/// the same content gives the same findings, reported again for each
/// commit and path that adds it); and the detectors on up to [`MAX_SCAN_THREADS`]
/// blocking threads, one commit at a time each. Findings are reported in
/// log order whatever the threads' order. Every read from git is bounded
/// by `timeout`; the processes are killed when the scan ends or is dropped.
pub async fn scan_push(
    access: &ObjectAccess,
    updates: &[RefUpdate],
    scanner: Arc<dyn CommitScanner>,
    timeout: Duration,
) -> Result<Vec<CommitFinding>, ScanError> {
    scan_push_with(
        access,
        updates,
        async { scanner },
        timeout,
        &ScanLimits::default(),
    )
    .await
}

/// [`scan_push`] with the scanner still being made (the repo's own rules
/// read from the mirror): the git processes start first.
pub async fn scan_push_with(
    access: &ObjectAccess,
    updates: &[RefUpdate],
    scanner: impl std::future::Future<Output = Arc<dyn CommitScanner>>,
    timeout: Duration,
    limits: &ScanLimits,
) -> Result<Vec<CommitFinding>, ScanError> {
    let pushed: Vec<&RefUpdate> = updates
        .iter()
        .filter(|update| !update.is_delete())
        .collect();
    let Some(first) = pushed.first() else {
        return Ok(Vec::new());
    };
    let default_reference = first.reference.clone();

    // Start both git processes at once: the walk (messages and the raw
    // list of changed files, no patch), and the object reader.
    let mut input = String::new();
    for update in &pushed {
        input.push_str(&update.new);
        input.push('\n');
    }
    let mut log = Streaming::start(
        access.git([
            "-c",
            "core.quotePath=true",
            "log",
            "--reverse",
            "--topo-order",
            "--diff-merges=first-parent",
            "--no-renames",
            "--no-abbrev",
            "--no-color",
            "--raw",
            // Tree entries too: the name of a directory with no file under
            // it (an empty tree) is in no file's path.
            "-t",
            "--format=%x00%x00%H%n%B%x00",
            "--stdin",
            "--not",
            "--branches",
            "--tags",
        ]),
        input.into_bytes(),
    )?;
    let mut objects = BlobReader::start(access)?;
    objects.limit(limits.bytes_per_push);
    let scanner = scanner.await;

    // The names of the refs pushed, before anything they point at.
    let mut findings = Vec::new();
    let names = scan_ref_names(&pushed, scanner.as_ref(), &mut findings);

    // Which ref brings each commit: with one pushed ref, that ref; with
    // more, a walk per ref (in push order), alongside the scan.
    let attribution = async {
        if pushed.len() > 1 {
            new_commits(access, updates, timeout).await.map(|commits| {
                commits
                    .into_iter()
                    .map(|commit| (commit.id, commit.reference))
                    .collect::<HashMap<_, _>>()
            })
        } else {
            Ok(HashMap::new())
        }
    };

    let mut scanned_blobs: HashSet<String> = HashSet::new();
    // The findings of every blob scanned in this push that has any.
    let mut blob_findings: HashMap<String, Vec<BlobFinding>> = HashMap::new();
    // The objects the refs point at: an annotated tag (and the tags it
    // points at) is scanned whole; a blob or tree a ref or tag points at
    // directly is scanned too (no commit walk would reach it).
    let mut trees = Vec::new();
    for update in &pushed {
        let mut next = Some(update.new.clone());
        while let Some(id) = next.take() {
            let object = fetch_bounded(&mut objects, &id, timeout).await?;
            let Some((kind, content)) = object else {
                return Err(ScanError::TooLarge {
                    commit: update.new.clone(),
                    file: PUSHED_OBJECT_FILE.to_string(),
                });
            };
            match kind.as_str() {
                "tag" => {
                    place(
                        &content,
                        scanner.as_ref(),
                        |_| Some((TAG_MESSAGE_FILE.to_string(), None)),
                        &update.new,
                        &update.reference,
                        &mut findings,
                    );
                    next = tag_target(&content);
                }
                "blob" if scanned_blobs.insert(id.clone()) => {
                    let found = scan_blob(&content, scanner.as_ref());
                    findings.extend(found.iter().map(|finding| {
                        finding.at(&update.new, &update.reference, PUSHED_OBJECT_FILE)
                    }));
                    if !found.is_empty() {
                        blob_findings.insert(id, found);
                    }
                }
                "tree" => trees.push((id, *update)),
                _ => {}
            }
        }
    }
    // A tree pushed under several refs is listed and scanned once.
    let mut listed_trees = HashSet::new();
    for (tree, update) in trees {
        if !listed_trees.insert(tree.clone()) {
            continue;
        }
        scan_tree(
            access,
            &mut objects,
            &tree,
            update,
            scanner.as_ref(),
            &mut scanned_blobs,
            &mut blob_findings,
            timeout,
            &mut findings,
        )
        .await?;
    }

    // The pipeline: log reader → object reader → detector threads. The
    // bytes in flight are bounded: the object reader holds each object's
    // size of `budget` before reading it, and the threads give it back once
    // it is scanned; the log's parts waiting for their objects hold
    // `log_budget` the same way. Neither reader ever waits while holding
    // bytes that only its own progress would give back, so a commit whose
    // files together exceed the budget streams through, a file at a time.
    let budget = Budget::new(limits.bytes_in_flight);
    let log_budget = Budget::new(limits.bytes_in_flight / LOG_BUDGET_SHARE);
    let (chunk_sender, mut chunks) = tokio::sync::mpsc::channel::<OwnedChunk>(SCAN_QUEUE_COMMITS);
    let (work_sender, work) =
        tokio::sync::mpsc::channel::<Vec<Work>>(SCAN_QUEUE_COMMITS / SCAN_BATCH_COMMITS);
    let work = Arc::new(std::sync::Mutex::new(work));
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .clamp(1, MAX_SCAN_THREADS);
    let mut workers = Vec::with_capacity(threads);
    for _ in 0..threads {
        let work = Arc::clone(&work);
        let scanner = Arc::clone(&scanner);
        workers.push(tokio::task::spawn_blocking(move || {
            let mut done = Done::default();
            loop {
                let next = match work.lock() {
                    Ok(mut receiver) => receiver.blocking_recv(),
                    Err(_) => None,
                };
                let Some(items) = next else { break };
                // Each item's bytes are given back as soon as it is scanned.
                for item in items {
                    match item {
                        Work::Commit(item) => {
                            done.commits.push(scan_commit(item, scanner.as_ref()));
                        }
                        Work::Blob { blob, content, .. } => {
                            let found = scan_blob(&content, scanner.as_ref());
                            done.blobs.push((blob, found));
                        }
                    }
                }
            }
            done
        }));
    }
    let feeder = objects.feeder();
    let reader_scanner = Arc::clone(&scanner);
    // Both stages own what they use, so one stopping early (an error)
    // closes its channels and the other ends too.
    let read_log = async move {
        let mut index = 0;
        let mut pending = LogSplitter::default();
        loop {
            let Some(bytes) = log.read(timeout).await? else {
                break;
            };
            let complete = pending.push(&bytes);
            if pending.pending_bytes() > MAX_LOG_COMMIT_BYTES {
                return Err(ScanError::CommitTooLarge {
                    commit: pending.pending_commit(),
                });
            }
            for chunk in complete {
                if !send_chunk(
                    chunk,
                    &mut index,
                    &feeder,
                    &chunk_sender,
                    &mut scanned_blobs,
                    &log_budget,
                )
                .await
                {
                    // The object reader stopped and says why; `log` is
                    // killed when dropped.
                    return Ok(());
                }
            }
        }
        for chunk in pending.finish() {
            if !send_chunk(
                chunk,
                &mut index,
                &feeder,
                &chunk_sender,
                &mut scanned_blobs,
                &log_budget,
            )
            .await
            {
                return Ok(());
            }
        }
        drop(chunk_sender);
        log.finish(timeout).await?;
        Ok::<(), ScanError>(())
    };
    let read_objects = async move {
        // Items go to the threads in batches (what has arrived, up to a
        // size), not one by one.
        let mut batcher = Batcher {
            batch: Vec::new(),
            bytes: 0,
            sender: work_sender,
        };
        // Commits with an `encoding` header, which git shows re-encoded
        // (headers too): scanned so once the walk is done.
        let mut encoded = Vec::new();
        loop {
            let chunk = match chunks.try_recv() {
                Ok(chunk) => chunk,
                Err(tokio::sync::mpsc::error::TryRecvError::Empty) => {
                    if !batcher.flush().await {
                        break;
                    }
                    match chunks.recv().await {
                        Some(chunk) => chunk,
                        None => break,
                    }
                }
                Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => break,
            };
            // What the commit's log lists (the paths it changes) is read,
            // joined and scanned too: it counts against the push's limit,
            // or a pack of two trees of many names flipped back and forth
            // would have the scan read megabytes of paths per commit.
            objects.count(chunk.listing_bytes as u64)?;
            // The commit object itself, asked for before its blobs, handed
            // on before them (nothing is held while the blobs are read).
            let size = match next_header(&mut objects, &chunk.commit, timeout).await? {
                Some((kind, size)) if kind == "commit" => size,
                Some((kind, _)) => {
                    return Err(ScanError::Git(GateError::UnexpectedOutput {
                        command: "git cat-file --batch".into(),
                        detail: format!("{} is a {kind}, not a commit", chunk.commit),
                    }));
                }
                None => {
                    return Err(ScanError::TooLarge {
                        commit: chunk.commit,
                        file: COMMIT_HEADER_FILE.to_string(),
                    });
                }
            };
            let Some(held) = batcher.hold(&budget, size).await else {
                break;
            };
            let raw = next_body(&mut objects, size, timeout).await?;
            if has_encoding_header(&raw) {
                encoded.push(chunk.commit.clone());
            }
            let mut files = Vec::with_capacity(chunk.changed.len());
            let mut fresh_files = Vec::new();
            for (blob, path, fresh) in chunk.changed {
                if fresh {
                    fresh_files.push((blob.clone(), path.clone()));
                }
                files.push((blob, path));
            }
            let item = CommitWork {
                index: chunk.index,
                commit: chunk.commit,
                raw,
                message: chunk.message,
                paths: chunk.paths,
                files,
                _held: (held, chunk.held),
            };
            let commit = item.commit.clone();
            if !batcher.push(Work::Commit(item)).await {
                break;
            }
            for (blob, path) in fresh_files {
                let Some((_, size)) = next_header(&mut objects, &blob, timeout).await? else {
                    return Err(ScanError::TooLarge {
                        commit,
                        file: shown_path(&path, reader_scanner.as_ref()),
                    });
                };
                let Some(held) = batcher.hold(&budget, size).await else {
                    return Ok(encoded);
                };
                let content = next_body(&mut objects, size, timeout).await?;
                let item = Work::Blob {
                    blob,
                    content,
                    _held: held,
                };
                if !batcher.push(item).await {
                    return Ok(encoded);
                }
            }
        }
        let _ = batcher.flush().await;
        Ok::<Vec<String>, ScanError>(encoded)
    };
    let (logged, read, attributed) = tokio::join!(read_log, read_objects, attribution);
    logged?;
    let encoded = read?;
    let references = attributed?;
    let mut per_commit: Vec<ScannedCommit> = Vec::new();
    for worker in workers {
        let done = worker.await.map_err(|error| {
            ScanError::Git(GateError::UnexpectedOutput {
                command: "the secret scan".into(),
                detail: format!("a scanning thread failed: {error}"),
            })
        })?;
        per_commit.extend(done.commits);
        for (blob, found) in done.blobs {
            if !found.is_empty() {
                blob_findings.insert(blob, found);
            }
        }
    }
    per_commit.sort_by_key(|scanned| scanned.index);
    let mut reencoded = scan_reencoded(access, &encoded, &scanner, timeout).await?;
    // In log order, each commit's message, then its files (a blob's
    // findings under each path and commit that adds it, whichever commit
    // scanned it), then its paths.
    for scanned in per_commit {
        let reference = references
            .get(&scanned.commit)
            .unwrap_or(&default_reference);
        let mut at = |mut finding: CommitFinding| {
            finding.reference.clone_from(reference);
            findings.push(finding);
        };
        // A commit as git shows it re-encoded: what the raw object's
        // scan found on the same line already is not filed twice.
        let shown = reencoded.remove(&scanned.commit).unwrap_or_default();
        let extra: Vec<CommitFinding> = shown
            .into_iter()
            .filter(|finding| {
                !scanned
                    .message
                    .iter()
                    .any(|raw| raw.rule == finding.rule && raw.snippet == finding.snippet)
            })
            .collect();
        scanned.message.into_iter().for_each(&mut at);
        extra.into_iter().for_each(&mut at);
        for (blob, path) in &scanned.files {
            // A path holding a secret is never shown as it is.
            let file = scanned.masked_paths.get(path).unwrap_or(path);
            for finding in blob_findings.get(blob).into_iter().flatten() {
                at(finding.at(&scanned.commit, reference, file));
            }
        }
        scanned.paths.into_iter().for_each(&mut at);
    }
    // A ref whose name has a match is named masked, never as it is.
    if !names.is_empty() {
        for finding in &mut findings {
            if let Some(shown) = names.names.get(&finding.reference) {
                finding.reference.clone_from(shown);
            }
        }
    }
    // Two matches of one rule on one line are one finding (the snippet
    // masks both): keep the first.
    let mut seen = BTreeSet::new();
    findings.retain(|finding| {
        seen.insert((
            finding.commit.clone(),
            finding.file.clone(),
            finding.line,
            finding.rule.clone(),
        ))
    });
    Ok(findings)
}

/// Queue one commit's object and its new blobs on the object reader and
/// hand the commit on. `false`: the object reader stopped (with an error it reports
/// itself).
async fn send_chunk(
    mut chunk: OwnedChunk,
    index: &mut usize,
    feeder: &tokio::sync::mpsc::UnboundedSender<String>,
    chunks: &tokio::sync::mpsc::Sender<OwnedChunk>,
    scanned: &mut HashSet<String>,
    log_budget: &Budget,
) -> bool {
    // Its message and paths wait in the queue: bounded in bytes too.
    chunk.held = log_budget.take(chunk.bytes() as u64).await;
    chunk.index = *index;
    *index += 1;
    // The raw commit object first (its headers and message bytes as
    // stored are scanned), then its new blobs.
    let _ = feeder.send(chunk.commit.clone());
    for (blob, _, fresh) in &mut chunk.changed {
        if scanned.insert(blob.clone()) {
            let _ = feeder.send(blob.clone());
            *fresh = true;
        }
    }
    chunks.send(chunk).await.is_ok()
}

/// Scan one commit: its raw object (headers and message bytes as
/// stored), its message as `git log` shows it when that differs (an
/// `encoding` header re-encodes it), each of its files not scanned before
/// in this push, and its paths. The findings' `reference` is filled in by
/// the caller, as are those of the files scanned before.
fn scan_commit(work: CommitWork, scanner: &dyn CommitScanner) -> ScannedCommit {
    let commit = work.commit.as_str();
    let mut message = Vec::new();
    let (header, body) = split_commit(&work.raw);
    place(
        header,
        scanner,
        |_| Some((COMMIT_HEADER_FILE.to_string(), None)),
        commit,
        "",
        &mut message,
    );
    place(
        body,
        scanner,
        |_| Some((COMMIT_MESSAGE_FILE.to_string(), None)),
        commit,
        "",
        &mut message,
    );
    if work.message != body {
        place(
            &work.message,
            scanner,
            |_| Some((COMMIT_MESSAGE_FILE.to_string(), None)),
            commit,
            "",
            &mut message,
        );
    }
    let mut paths = Vec::new();
    let masked_paths = scan_paths(&work.paths, scanner, commit, "", &mut paths);
    ScannedCommit {
        index: work.index,
        commit: work.commit,
        message,
        files: work.files,
        paths,
        masked_paths,
    }
}

/// A raw commit object's headers (each line with its newline) and its
/// message (after the first empty line; empty when there is none).
fn split_commit(raw: &[u8]) -> (&[u8], &[u8]) {
    if raw.starts_with(b"\n") {
        return (&[], &raw[1..]);
    }
    match find(raw, b"\n\n") {
        Some(at) => (&raw[..at + 1], &raw[at + 2..]),
        None => (raw, &[]),
    }
}

/// Whether a raw commit object has an `encoding` header: git (`log`,
/// `show`, and forges alike) shows such a commit re-encoded, its headers
/// as well as its message.
fn has_encoding_header(raw: &[u8]) -> bool {
    let (header, _) = split_commit(raw);
    header
        .split(|byte| *byte == b'\n')
        .any(|line| line.starts_with(b"encoding "))
}

/// Scan each of `encoded` (commits with an `encoding` header) as git shows
/// it re-encoded to UTF-8: `git rev-list --header`, the whole object (every
/// header, then the message indented), one NUL-ended record per commit in
/// the order asked. The raw object and the re-encoded message (`%B`) are
/// scanned by [`scan_commit`]; this adds the headers, where an encoding
/// such as UTF-7 (`AKIA+AFo-…`) shows an author, committer or any other
/// header as a secret the raw bytes do not hold. A finding in the headers
/// is placed as [`COMMIT_HEADER_FILE`] at its header line, one in the
/// message as [`COMMIT_MESSAGE_FILE`] at its line in the message. A record
/// that does not start with the commit asked for (a re-encoded NUL cuts
/// one in two) refuses the push as unscannable.
async fn scan_reencoded(
    access: &ObjectAccess,
    encoded: &[String],
    scanner: &Arc<dyn CommitScanner>,
    timeout: Duration,
) -> Result<HashMap<String, Vec<CommitFinding>>, ScanError> {
    let mut found = HashMap::new();
    if encoded.is_empty() {
        return Ok(found);
    }
    let command = "git rev-list --header";
    let unexpected = |detail: String| {
        ScanError::Git(GateError::UnexpectedOutput {
            command: command.into(),
            detail,
        })
    };
    let mut input = String::new();
    for id in encoded {
        input.push_str(id);
        input.push('\n');
    }
    let mut stream = Streaming::start(
        access.git([
            "rev-list",
            "--no-walk=unsorted",
            "--header",
            "--encoding=UTF-8",
            "--stdin",
        ]),
        input.into_bytes(),
    )?;
    let mut expected = encoded.iter();
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let more = stream.read(timeout).await?;
        if let Some(bytes) = &more {
            pending.extend_from_slice(bytes);
        }
        while let Some(end) = memchr::memchr(0, &pending) {
            let record: Vec<u8> = pending.drain(..=end).collect();
            let Some(id) = expected.next() else {
                return Err(unexpected("more commits than asked for".into()));
            };
            let Some(shown) = record[..end]
                .strip_prefix(id.as_bytes())
                .and_then(|rest| rest.strip_prefix(b"\n"))
            else {
                return Err(unexpected(format!(
                    "commit {id} as re-encoded does not start with its id (a NUL in it?)"
                )));
            };
            let shown = shown.to_vec();
            let (scanner, commit) = (Arc::clone(scanner), id.clone());
            let findings = tokio::task::spawn_blocking(move || {
                let mut out = Vec::new();
                let header_end = find(&shown, b"\n\n").map_or(shown.len(), |at| at + 1);
                let message_start = (header_end + 1).min(shown.len());
                place(
                    &shown,
                    scanner.as_ref(),
                    |offset| {
                        if offset < header_end {
                            Some((COMMIT_HEADER_FILE.to_string(), None))
                        } else {
                            Some((
                                COMMIT_MESSAGE_FILE.to_string(),
                                Some(line_number(
                                    &shown[message_start..],
                                    offset.saturating_sub(message_start),
                                )),
                            ))
                        }
                    },
                    &commit,
                    "",
                    &mut out,
                );
                out
            })
            .await
            .map_err(|error| unexpected(format!("a scanning thread failed: {error}")))?;
            found.insert(id.clone(), findings);
        }
        if pending.len() > MAX_LOG_COMMIT_BYTES {
            return Err(ScanError::CommitTooLarge {
                commit: expected.next().cloned().unwrap_or_default(),
            });
        }
        if more.is_none() {
            break;
        }
    }
    if !pending.is_empty() {
        return Err(unexpected("a re-encoded commit is not NUL-ended".into()));
    }
    if let Some(id) = expected.next() {
        return Err(unexpected(format!("commit {id} was not shown")));
    }
    stream.finish(timeout).await?;
    Ok(found)
}

/// Scan a list of paths (at once, one per line) and place each finding as
/// [`PATH_FILE`], at the path's 1-based place in the list, the path shown
/// only masked in the snippet. Returns each path with a finding, masked:
/// a finding in that file's content names the file so. A path a rule on
/// file names matches is a finding on that file, at line 0 (the file as a
/// whole).
fn scan_paths(
    paths: &[String],
    scanner: &dyn CommitScanner,
    commit: &str,
    reference: &str,
    out: &mut Vec<CommitFinding>,
) -> HashMap<String, String> {
    if paths.is_empty() {
        return HashMap::new();
    }
    let named: Vec<(&String, Vec<(String, String)>)> = paths
        .iter()
        .map(|path| (path, scanner.file_name_findings(path)))
        .filter(|(_, rules)| !rules.is_empty())
        .collect();
    let masked_paths = scan_names(paths, scanner, PATH_FILE, commit, reference, out);
    for (path, rules) in named {
        let file = masked_paths.get(path).unwrap_or(path);
        out.extend(rules.into_iter().map(|(rule, description)| CommitFinding {
            reference: reference.to_string(),
            commit: commit.to_string(),
            file: file.clone(),
            line: 0,
            rule,
            snippet: format!("the file's name matches this rule ({description})"),
        }));
    }
    masked_paths
}

/// Scan `names` as one text (one per line) and place each finding as
/// `label`, at the name's 1-based place in the list, the name shown only
/// masked in the snippet. Returns each name with a finding, masked.
fn scan_names(
    names: &[impl AsRef<str>],
    scanner: &dyn CommitScanner,
    label: &str,
    commit: &str,
    reference: &str,
    out: &mut Vec<CommitFinding>,
) -> HashMap<String, String> {
    let mut masked_names = HashMap::new();
    let mut joined = Vec::with_capacity(names.iter().map(|name| name.as_ref().len() + 1).sum());
    let mut starts = Vec::with_capacity(names.len());
    for name in names {
        starts.push(joined.len());
        joined.extend_from_slice(name.as_ref().as_bytes());
        joined.push(b'\n');
    }
    let found = scanner.scan(&joined);
    if found.is_empty() {
        return masked_names;
    }
    for (name, start) in names.iter().zip(&starts) {
        let name = name.as_ref();
        let end = start + name.len();
        if found
            .iter()
            .any(|finding| finding.start < end && finding.end > *start)
        {
            masked_names.insert(name.to_string(), masked(&joined, *start, end, &found));
        }
    }
    place_found(
        &joined,
        &found,
        |offset| {
            let place = starts.partition_point(|start| *start <= offset);
            Some((label.to_string(), Some(place.max(1) as u64)))
        },
        commit,
        reference,
        out,
    );
    masked_names
}

/// Ref names as the gate shows them: a name a detector finds anything in
/// is shown with every match masked, never as it is (in a finding's
/// `reference`, the agent's `remote:` lines and the gate's log).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MaskedNames {
    /// Each name with a match → that name masked.
    names: HashMap<String, String>,
}

impl MaskedNames {
    /// Scan `names` (every ref of a push, whatever its update) with
    /// `scanner`.
    pub fn scan(names: &[impl AsRef<str>], scanner: &dyn CommitScanner) -> Self {
        Self {
            names: scan_names(names, scanner, REF_NAME_FILE, "", "", &mut Vec::new()),
        }
    }

    /// Whether no name had a match.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// `name` as shown: masked if it has a match.
    pub fn name<'a>(&'a self, name: &'a str) -> &'a str {
        self.names.get(name).map_or(name, String::as_str)
    }

    /// `text` (a message naming refs: the gate's own, or upstream's answer
    /// to a forward) with every name that has a match replaced by its
    /// masked form, whole (`refs/heads/x`) or as git shortens it (`x`),
    /// longest first.
    pub fn text(&self, text: &str) -> String {
        if self.names.is_empty() {
            return text.to_string();
        }
        let mut pairs: Vec<(&str, &str)> = Vec::new();
        for (name, shown) in &self.names {
            pairs.push((name, shown));
            for prefix in ["refs/heads/", "refs/tags/", "refs/remotes/"] {
                if let (Some(short), Some(short_shown)) =
                    (name.strip_prefix(prefix), shown.strip_prefix(prefix))
                    && !short.is_empty()
                {
                    pairs.push((short, short_shown));
                }
            }
        }
        pairs.sort_by_key(|(name, _)| std::cmp::Reverse(name.len()));
        let mut shown = text.to_string();
        for (name, masked) in pairs {
            if shown.contains(name) {
                shown = shown.replace(name, masked);
            }
        }
        shown
    }
}

/// Scan the names of the refs a push creates or updates (`pushed`: no
/// deletion), each finding placed as [`REF_NAME_FILE`] at the ref's
/// 1-based place among them, on the object the ref is set to. Returns how
/// to show the names.
fn scan_ref_names(
    pushed: &[&RefUpdate],
    scanner: &dyn CommitScanner,
    out: &mut Vec<CommitFinding>,
) -> MaskedNames {
    let names: Vec<&str> = pushed
        .iter()
        .map(|update| update.reference.as_str())
        .collect();
    let mut found = Vec::new();
    let masked_names = scan_names(&names, scanner, REF_NAME_FILE, "", "", &mut found);
    for mut finding in found {
        let place = usize::try_from(finding.line).unwrap_or(usize::MAX);
        let Some(update) = place.checked_sub(1).and_then(|index| pushed.get(index)) else {
            continue;
        };
        finding.commit.clone_from(&update.new);
        finding.reference.clone_from(&update.reference);
        out.push(finding);
    }
    MaskedNames {
        names: masked_names,
    }
}

/// `content[start..end]` with every finding that overlaps it replaced by
/// its masked preview (control characters as spaces), uncut.
fn masked(content: &[u8], start: usize, end: usize, found: &[ContentFinding]) -> String {
    let end = end.min(content.len());
    let mut overlapping: Vec<&ContentFinding> = found
        .iter()
        .filter(|finding| finding.start < end && finding.end > start)
        .collect();
    overlapping.sort_by_key(|finding| finding.start);
    let mut text = String::new();
    let mut cursor = start.min(end);
    let mut previewed = false;
    for finding in overlapping {
        if previewed && finding.start < cursor {
            // Overlaps the match before: its rest is masked too, with no
            // second preview.
            cursor = cursor.max(finding.end.min(end));
            continue;
        }
        let from = finding.start.max(cursor);
        text.push_str(&String::from_utf8_lossy(&content[cursor..from]));
        text.push_str(&finding.preview);
        cursor = finding.end.min(end).max(from);
        previewed = true;
    }
    if cursor < end {
        text.push_str(&String::from_utf8_lossy(&content[cursor..end]));
    }
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// `path` as a finding or an error names it: masked when a detector finds
/// anything in it.
fn shown_path(path: &str, scanner: &dyn CommitScanner) -> String {
    let found = scanner.scan(path.as_bytes());
    if found.is_empty() {
        path.to_string()
    } else {
        masked(path.as_bytes(), 0, path.len(), &found)
    }
}

/// Scan every blob of a tree a ref or tag points at directly (not already
/// scanned in this push), as files of that tree, and the tree's paths.
/// Its recursive listing is read as it comes and counts against the
/// push's limit; one over [`MAX_LOG_COMMIT_BYTES`] refuses the push.
#[allow(clippy::too_many_arguments)]
async fn scan_tree(
    access: &ObjectAccess,
    objects: &mut BlobReader,
    tree: &str,
    update: &RefUpdate,
    scanner: &dyn CommitScanner,
    scanned: &mut HashSet<String>,
    blob_findings: &mut HashMap<String, Vec<BlobFinding>>,
    timeout: Duration,
    out: &mut Vec<CommitFinding>,
) -> Result<(), ScanError> {
    let mut paths = Vec::new();
    let mut dirs = Vec::new();
    // The findings in each file's content, placed once the paths are
    // scanned (a path with a finding is shown masked).
    let mut in_files: Vec<(String, Vec<BlobFinding>)> = Vec::new();
    // Read as it comes, counted against the push's limit and bounded on
    // its own: a few nested trees of many entries list exponentially many
    // paths (three levels of 1,000: 10⁹).
    let mut listing = Streaming::start(
        access.git(["ls-tree", "-r", "-t", "-z", "--full-tree", tree]),
        Vec::new(),
    )?;
    let mut pending: Vec<u8> = Vec::new();
    let mut listed = 0usize;
    loop {
        let more = listing.read(timeout).await?;
        let ended = more.is_none();
        if let Some(bytes) = more {
            listed = listed.saturating_add(bytes.len());
            objects.count(bytes.len() as u64)?;
            if listed > MAX_LOG_COMMIT_BYTES {
                return Err(ScanError::TreeTooLarge {
                    tree: tree.to_string(),
                });
            }
            pending.extend_from_slice(&bytes);
        }
        let complete = if ended {
            pending.len()
        } else {
            pending
                .iter()
                .rposition(|byte| *byte == 0)
                .map_or(0, |at| at + 1)
        };
        let entries: Vec<u8> = pending.drain(..complete).collect();
        for entry in entries.split(|byte| *byte == 0) {
            // <mode> SP <type> SP <id> TAB <path>
            let Some(tab) = entry.iter().position(|byte| *byte == b'\t') else {
                continue;
            };
            let meta = String::from_utf8_lossy(&entry[..tab]);
            let path = String::from_utf8_lossy(&entry[tab + 1..]).into_owned();
            let fields: Vec<&str> = meta.split(' ').collect();
            match fields.as_slice() {
                [_, "tree", _] => {
                    dirs.push(path);
                    continue;
                }
                // A gitlink: its id is the pusher's 20 (or 32) bytes too.
                [_, "commit", id] => {
                    paths.push(format!("{path} {id}"));
                    continue;
                }
                _ => paths.push(path.clone()),
            }
            let [_, "blob", blob] = fields.as_slice() else {
                continue;
            };
            if !is_oid(blob) || !scanned.insert((*blob).to_string()) {
                continue;
            }
            let Some((_, content)) = fetch_bounded(objects, blob, timeout).await? else {
                return Err(ScanError::TooLarge {
                    commit: update.new.clone(),
                    file: shown_path(&path, scanner),
                });
            };
            let found = scan_blob(&content, scanner);
            if !found.is_empty() {
                in_files.push((path, found.clone()));
                blob_findings.insert((*blob).to_string(), found);
            }
        }
        if ended {
            break;
        }
    }
    listing.finish(timeout).await?;
    add_bare_dirs(&mut paths, &dirs);
    let mut path_findings = Vec::new();
    let masked_paths = scan_paths(
        &paths,
        scanner,
        &update.new,
        &update.reference,
        &mut path_findings,
    );
    // Files first, then paths; a path holding a secret shown masked.
    for (path, found) in in_files {
        let file = masked_paths.get(&path).unwrap_or(&path);
        out.extend(
            found
                .iter()
                .map(|finding| finding.at(&update.new, &update.reference, file)),
        );
    }
    out.extend(path_findings);
    Ok(())
}

/// Append to `paths` each of `dirs` that no path (of `paths` or `dirs`)
/// lies under. A directory's name is scanned as part of every path under
/// it, so only one with nothing under it (an empty tree: `git log --raw`
/// and `ls-tree -r` list files only) needs a line of its own; appended
/// last, so the files keep their places.
fn add_bare_dirs(paths: &mut Vec<String>, dirs: &[String]) {
    if dirs.is_empty() {
        return;
    }
    let bare: Vec<String> = {
        let mut covered: HashSet<&str> = HashSet::new();
        for path in paths.iter().chain(dirs) {
            let mut rest = path.as_str();
            while let Some(slash) = rest.rfind('/') {
                rest = &rest[..slash];
                if !covered.insert(rest) {
                    // Its parents are in already.
                    break;
                }
            }
        }
        dirs.iter()
            .filter(|dir| !covered.contains(dir.as_str()))
            .cloned()
            .collect()
    };
    paths.extend(bare);
}

/// The `object` an annotated tag points at, when that is not a commit
/// (commits are walked by the log).
fn tag_target(tag: &[u8]) -> Option<String> {
    let headers = tag
        .split(|byte| *byte == b'\n')
        .take_while(|line| !line.is_empty());
    let mut object = None;
    let mut kind = None;
    for line in headers {
        let line = String::from_utf8_lossy(line);
        if let Some(id) = line.strip_prefix("object ") {
            object = Some(id.trim().to_string());
        } else if let Some(value) = line.strip_prefix("type ") {
            kind = Some(value.trim().to_string());
        }
    }
    match kind.as_deref() {
        Some("commit") | None => None,
        Some(_) => object.filter(|id| is_oid(id)),
    }
}

/// Ask the object reader for `id` and read its answer within `timeout`.
async fn fetch_bounded(
    objects: &mut BlobReader,
    id: &str,
    timeout: Duration,
) -> Result<Option<(String, Vec<u8>)>, ScanError> {
    objects.request(id);
    let Some((kind, size)) = next_header(objects, id, timeout).await? else {
        return Ok(None);
    };
    Ok(Some((kind, next_body(objects, size, timeout).await?)))
}

/// The type and size of `id`, already asked for, read within `timeout`
/// and counted against the push's limit; `None` when it is larger than
/// [`MAX_SCANNED_BLOB_BYTES`] (its content is not read: the push is
/// refused).
async fn next_header(
    objects: &mut BlobReader,
    id: &str,
    timeout: Duration,
) -> Result<Option<(String, u64)>, ScanError> {
    let (kind, size) = tokio::time::timeout(timeout, objects.read_header(id))
        .await
        .map_err(|_| GateError::Timeout {
            command: "git cat-file --batch".to_string(),
            timeout,
        })??;
    if size > MAX_SCANNED_BLOB_BYTES {
        return Ok(None);
    }
    objects.count(size)?;
    Ok(Some((kind, size)))
}

/// The `size` bytes of the object whose header was just read, within
/// `timeout`.
async fn next_body(
    objects: &mut BlobReader,
    size: u64,
    timeout: Duration,
) -> Result<Vec<u8>, ScanError> {
    tokio::time::timeout(timeout, objects.read_body(size))
        .await
        .map_err(|_| GateError::Timeout {
            command: "git cat-file --batch".to_string(),
            timeout,
        })?
        .map_err(ScanError::Git)
}

/// Scan `content` and place each finding. `locate(offset)` names the file
/// and, when it is not the line in `content`, the line; `None` skips the
/// finding.
fn place(
    content: &[u8],
    scanner: &dyn CommitScanner,
    locate: impl Fn(usize) -> Option<(String, Option<u64>)>,
    commit: &str,
    reference: &str,
    out: &mut Vec<CommitFinding>,
) {
    let found = scanner.scan(content);
    place_found(content, &found, locate, commit, reference, out);
}

/// [`place`] for findings already made.
fn place_found(
    content: &[u8],
    found: &[ContentFinding],
    locate: impl Fn(usize) -> Option<(String, Option<u64>)>,
    commit: &str,
    reference: &str,
    out: &mut Vec<CommitFinding>,
) {
    for finding in found {
        let Some((file, line)) = locate(finding.start) else {
            continue;
        };
        let line = line.unwrap_or_else(|| line_number(content, finding.start));
        out.push(CommitFinding {
            reference: reference.to_string(),
            commit: commit.to_string(),
            file,
            line,
            rule: finding.rule.clone(),
            snippet: snippet(content, finding, found),
        });
    }
}

/// 1-based line of byte `offset`.
pub fn line_number(content: &[u8], offset: usize) -> u64 {
    let end = offset.min(content.len());
    content[..end].iter().filter(|byte| **byte == b'\n').count() as u64 + 1
}

/// The line holding `finding`, with every finding on that line replaced by
/// its preview, cut to [`MAX_SNIPPET_CHARS`] around the match.
pub fn snippet(content: &[u8], finding: &ContentFinding, all: &[ContentFinding]) -> String {
    let start = finding.start.min(content.len());
    let line_start = content[..start]
        .iter()
        .rposition(|byte| *byte == b'\n')
        .map_or(0, |index| index + 1);
    let line_end = content[start..]
        .iter()
        .position(|byte| *byte == b'\n')
        .map_or(content.len(), |index| start + index);
    let mut on_line: Vec<&ContentFinding> = all
        .iter()
        .filter(|other| other.start < line_end.max(line_start + 1) && other.end > line_start)
        .collect();
    on_line.sort_by_key(|other| other.start);
    let mut text = String::new();
    let mut cursor = line_start;
    let mut match_at = 0;
    for other in on_line {
        let other_start = other.start.max(line_start);
        if other_start < cursor {
            // Overlaps the match before: the rest of it is masked too
            // (no second preview), never shown.
            cursor = cursor.max(other.end.min(line_end));
            continue;
        }
        text.push_str(&String::from_utf8_lossy(&content[cursor..other_start]));
        if std::ptr::eq(other, finding) {
            match_at = text.chars().count();
        }
        text.push_str(&other.preview);
        cursor = other.end.min(line_end).max(other_start);
    }
    if cursor < line_end {
        text.push_str(&String::from_utf8_lossy(&content[cursor..line_end]));
    }
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let total = clean.chars().count();
    if total <= MAX_SNIPPET_CHARS {
        return clean.trim().to_string();
    }
    let from = match_at
        .saturating_sub(MAX_SNIPPET_CHARS / 4)
        .min(total - MAX_SNIPPET_CHARS);
    let cut: String = clean.chars().skip(from).take(MAX_SNIPPET_CHARS).collect();
    format!(
        "{}{}{}",
        if from > 0 { "…" } else { "" },
        cut.trim(),
        if from + MAX_SNIPPET_CHARS < total {
            "…"
        } else {
            ""
        }
    )
}

/// One commit's part of the `git log` stream.
#[derive(Debug)]
pub struct LogChunk<'a> {
    pub commit: String,
    pub message: &'a [u8],
    /// `(blob id, path)` of every file added or changed (not submodules).
    pub changed: Vec<(String, String)>,
    /// Every path added or changed (a submodule's as `<path> <id>`: its id
    /// is the pusher's bytes too; not deleted ones: a deleted path is the
    /// parent's), then each added or changed directory
    /// with nothing under it in that list (an empty tree, whose name is in
    /// no other path).
    pub paths: Vec<String>,
    /// Bytes of the commit's `--raw` listing (what it adds, changes or
    /// deletes, directories too), counted against the push's scan limit.
    pub listing_bytes: usize,
}

/// Split `git log --format=%x00%x00%H%n%B%x00 --raw -t` output per commit.
///
/// A message ends at its first NUL. No pushed message holds one (which
/// would hide the rest of it from the scan): the mirror's
/// `receive.fsckObjects` refuses such a commit (`nulInCommit`) before the
/// scan runs; `a_commit_message_with_a_nul_byte_is_refused` checks it.
pub fn split_log(log: &[u8]) -> Vec<LogChunk<'_>> {
    let mut chunks = Vec::new();
    let mut rest = log;
    while let Some(start) = find(rest, b"\0\0") {
        rest = &rest[start + 2..];
        let end = find(rest, b"\0\0").unwrap_or(rest.len());
        let chunk = &rest[..end];
        rest = &rest[end..];
        let Some(newline) = chunk.iter().position(|byte| *byte == b'\n') else {
            continue;
        };
        let commit = String::from_utf8_lossy(&chunk[..newline]).into_owned();
        let after = &chunk[newline + 1..];
        let message_end = after
            .iter()
            .position(|byte| *byte == 0)
            .unwrap_or(after.len());
        let message = &after[..message_end];
        let raw = after.get(message_end + 1..).unwrap_or(&[]);
        let mut changed = Vec::new();
        let mut paths = Vec::new();
        let mut dirs = Vec::new();
        for line in String::from_utf8_lossy(raw).lines() {
            // :100644 100644 <old> <new> M\tpath
            let Some(line) = line.strip_prefix(':') else {
                continue;
            };
            let Some((meta, path)) = line.split_once('\t') else {
                continue;
            };
            let fields: Vec<&str> = meta.split(' ').collect();
            if fields.len() < 5 {
                continue;
            }
            let (new_mode, new_blob, status) = (fields[1], fields[3], fields[4]);
            if status.starts_with('D') {
                continue;
            }
            let path = unquote_path(path);
            if new_mode == "040000" {
                // A directory (`-t`): only its name.
                dirs.push(path);
                continue;
            }
            if new_mode == "160000" {
                // A gitlink: its id is 20 (or 32) bytes of the pusher's
                // choosing too, scanned beside its path (a secret's bytes
                // in hex are found by the detectors' hex decoding).
                paths.push(format!("{path} {new_blob}"));
                continue;
            }
            if is_oid(new_blob) {
                changed.push((new_blob.to_string(), path.clone()));
            }
            paths.push(path);
        }
        add_bare_dirs(&mut paths, &dirs);
        chunks.push(LogChunk {
            commit,
            message,
            changed,
            paths,
            listing_bytes: raw.len(),
        });
    }
    chunks
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
}

/// One commit's part of the `git log` stream, owned (the stream is read
/// as it comes).
#[derive(Debug)]
struct OwnedChunk {
    index: usize,
    commit: String,
    message: Vec<u8>,
    paths: Vec<String>,
    /// `(blob id, path, fresh)` of every file added or changed; `fresh`
    /// (set once queued on the object reader): not scanned before in this
    /// push, to be read.
    changed: Vec<(String, String, bool)>,
    /// Bytes of its `--raw` listing ([`LogChunk::listing_bytes`]).
    listing_bytes: usize,
    /// Its bytes of the log's budget while it waits.
    held: Held,
}

impl OwnedChunk {
    fn bytes(&self) -> usize {
        self.commit.len()
            + self.message.len()
            + self.paths.iter().map(String::len).sum::<usize>()
            + self
                .changed
                .iter()
                .map(|(blob, path, _)| blob.len() + path.len())
                .sum::<usize>()
    }
}

impl From<LogChunk<'_>> for OwnedChunk {
    fn from(chunk: LogChunk<'_>) -> Self {
        Self {
            index: 0,
            commit: chunk.commit,
            message: chunk.message.to_vec(),
            paths: chunk.paths,
            changed: chunk
                .changed
                .into_iter()
                .map(|(blob, path)| (blob, path, false))
                .collect(),
            listing_bytes: chunk.listing_bytes,
            held: Held { _permit: None },
        }
    }
}

/// Splits the `git log` stream into commits as it arrives: a commit's part
/// is complete once the next commit's marker (`\0\0`) has come, the last
/// one at the end of the stream. Markers are found exactly as
/// [`split_log`] finds them (the first, then each next one searched for
/// after the end of the last, never overlapping it), so the stream splits
/// the same however it is cut into reads.
#[derive(Debug, Default)]
pub struct LogSplitter {
    /// Starts with a marker once `started`.
    buffer: Vec<u8>,
    /// Whether the first marker has come (what comes before it is no
    /// commit's, as in [`split_log`]).
    started: bool,
    /// How much of `buffer` has been searched for the next marker.
    searched: usize,
}

impl LogSplitter {
    /// Add bytes; returns the commits now complete.
    fn push(&mut self, bytes: &[u8]) -> Vec<OwnedChunk> {
        self.buffer.extend_from_slice(bytes);
        if !self.started {
            // Look again at the last byte searched (a marker split
            // between two reads).
            let from = self.searched.saturating_sub(1);
            let Some(at) = self.buffer.get(from..).and_then(|rest| find(rest, b"\0\0")) else {
                self.searched = self.buffer.len();
                return Vec::new();
            };
            self.buffer.drain(..from + at);
            self.started = true;
            self.searched = 2;
        }
        // The buffer starts with a marker: each next marker, searched for
        // after the two bytes of the one before, ends a commit.
        let mut complete = Vec::new();
        let mut start = 0;
        let mut from = self.searched.saturating_sub(1).max(start + 2);
        while let Some(at) = self.buffer.get(from..).and_then(|rest| find(rest, b"\0\0")) {
            let next = from + at;
            complete.extend(
                split_log(&self.buffer[start..next])
                    .into_iter()
                    .map(OwnedChunk::from),
            );
            start = next;
            from = next + 2;
        }
        self.buffer.drain(..start);
        self.searched = self.buffer.len().max(2);
        complete
    }

    /// Bytes kept of a commit not complete yet.
    fn pending_bytes(&self) -> usize {
        self.buffer.len()
    }

    /// The id of the commit not complete yet (as far as it has come).
    fn pending_commit(&self) -> String {
        let id = self.buffer.get(2..).unwrap_or_default();
        let end = id
            .iter()
            .position(|byte| !byte.is_ascii_hexdigit())
            .unwrap_or(id.len())
            .min(64);
        String::from_utf8_lossy(&id[..end]).into_owned()
    }

    /// The end of the stream: the last commit.
    fn finish(self) -> Vec<OwnedChunk> {
        split_log(&self.buffer)
            .into_iter()
            .map(OwnedChunk::from)
            .collect()
    }

    /// The commit ids of everything pushed so far and the rest (for tests:
    /// splitting in pieces gives what splitting at once gives).
    pub fn split_in_pieces(log: &[u8], piece: usize) -> Vec<String> {
        let mut splitter = Self::default();
        let mut ids = Vec::new();
        for bytes in log.chunks(piece.max(1)) {
            ids.extend(splitter.push(bytes).into_iter().map(|chunk| chunk.commit));
        }
        ids.extend(splitter.finish().into_iter().map(|chunk| chunk.commit));
        ids
    }
}

/// Undo git's C-style path quoting (`"a\tb\303\251"`).
pub fn unquote_path(path: &str) -> String {
    let Some(inner) = path
        .strip_prefix('"')
        .and_then(|path| path.strip_suffix('"'))
    else {
        return path.to_string();
    };
    let bytes = inner.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        if byte != b'\\' || index + 1 >= bytes.len() {
            out.push(byte);
            index += 1;
            continue;
        }
        let next = bytes[index + 1];
        let simple = match next {
            b'n' => Some(b'\n'),
            b't' => Some(b'\t'),
            b'r' => Some(b'\r'),
            b'a' => Some(7),
            b'b' => Some(8),
            b'f' => Some(12),
            b'v' => Some(11),
            b'"' => Some(b'"'),
            b'\\' => Some(b'\\'),
            _ => None,
        };
        if let Some(simple) = simple {
            out.push(simple);
            index += 2;
        } else if index + 3 < bytes.len()
            && bytes[index + 1..index + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let value = (bytes[index + 1] - b'0') as u32 * 64
                + (bytes[index + 2] - b'0') as u32 * 8
                + (bytes[index + 3] - b'0') as u32;
            out.push(value as u8);
            index += 4;
        } else {
            out.push(byte);
            index += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A `git cat-file --batch` process reading objects by id. Ids are
/// queued on a channel and written by a task, so the reader can ask for
/// many objects ahead and read the answers in the same order.
struct BlobReader {
    _child: tokio::process::Child,
    sender: tokio::sync::mpsc::UnboundedSender<String>,
    stdout: BufReader<tokio::process::ChildStdout>,
    writer: tokio::task::JoinHandle<()>,
    /// Bytes of objects read so far, and the most the push may bring.
    counted: u64,
    limit: u64,
}

impl Drop for BlobReader {
    fn drop(&mut self) {
        self.writer.abort();
    }
}

impl BlobReader {
    fn start(access: &ObjectAccess) -> Result<Self> {
        let invocation = access.git(["cat-file", "--batch"]);
        let mut child = invocation.spawn_piped()?;
        let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(GateError::UnexpectedOutput {
                command: "git cat-file --batch".into(),
                detail: "no pipes".into(),
            });
        };
        let (sender, mut ids) = tokio::sync::mpsc::unbounded_channel::<String>();
        let writer = tokio::spawn(async move {
            let mut request = String::new();
            while let Some(id) = ids.recv().await {
                // Everything queued so far in one write.
                request.clear();
                request.push_str(&id);
                request.push('\n');
                while let Ok(id) = ids.try_recv() {
                    request.push_str(&id);
                    request.push('\n');
                }
                if stdin.write_all(request.as_bytes()).await.is_err() {
                    return;
                }
            }
            let _ = stdin.shutdown().await;
        });
        Ok(Self {
            _child: child,
            sender,
            stdout: BufReader::with_capacity(LOG_READ_CHUNK_BYTES, stdout),
            writer,
            counted: 0,
            limit: MAX_SCANNED_BYTES_PER_PUSH,
        })
    }

    /// Ask for one more object (answers come in the order asked).
    fn request(&self, id: &str) {
        let _ = self.sender.send(id.to_string());
    }

    /// A handle that asks for objects from another task.
    fn feeder(&self) -> tokio::sync::mpsc::UnboundedSender<String> {
        self.sender.clone()
    }

    /// Set the most bytes of objects the push may bring to be scanned.
    fn limit(&mut self, bytes: u64) {
        self.limit = bytes;
    }

    /// Count `size` bytes about to be read and scanned (an object, or a
    /// commit's listing of its paths) against the limit.
    fn count(&mut self, size: u64) -> Result<(), ScanError> {
        self.counted = self.counted.saturating_add(size);
        if self.counted > self.limit {
            return Err(ScanError::PushTooLarge { limit: self.limit });
        }
        Ok(())
    }

    /// The next asked-for object's type and size (`id` must be the next
    /// one asked for); its content is read with [`Self::read_body`].
    async fn read_header(&mut self, id: &str) -> Result<(String, u64)> {
        let mut header = String::new();
        self.stdout
            .read_line(&mut header)
            .await
            .map_err(|source| GateError::Io {
                command: "git cat-file --batch".into(),
                source,
            })?;
        let fields: Vec<&str> = header.trim_end().split(' ').collect();
        match fields.as_slice() {
            [answered, kind, size] if *answered == id => match size.parse::<u64>() {
                Ok(size) => Ok(((*kind).to_string(), size)),
                Err(_) => Err(GateError::UnexpectedOutput {
                    command: "git cat-file --batch".into(),
                    detail: header.trim_end().to_string(),
                }),
            },
            _ => Err(GateError::UnexpectedOutput {
                command: "git cat-file --batch".into(),
                detail: header.trim_end().to_string(),
            }),
        }
    }

    /// The content of the object whose header was just read.
    async fn read_body(&mut self, size: u64) -> Result<Vec<u8>> {
        let io = |source| GateError::Io {
            command: "git cat-file --batch".into(),
            source,
        };
        let size = usize::try_from(size).map_err(|_| GateError::UnexpectedOutput {
            command: "git cat-file --batch".into(),
            detail: format!("an object of {size} bytes"),
        })?;
        let mut content = vec![0u8; size];
        self.stdout.read_exact(&mut content).await.map_err(io)?;
        let mut newline = [0u8; 1];
        self.stdout.read_exact(&mut newline).await.map_err(io)?;
        Ok(content)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(start: usize, end: usize) -> ContentFinding {
        ContentFinding {
            rule: "r".into(),
            start,
            end,
            preview: "AK…XY".into(),
        }
    }

    #[test]
    fn line_numbers_are_one_based() {
        assert_eq!(line_number(b"a\nb\nc", 0), 1);
        assert_eq!(line_number(b"a\nb\nc", 2), 2);
        assert_eq!(line_number(b"a\nb\nc", 4), 3);
    }

    #[test]
    fn snippets_mask_every_match_on_the_line() {
        let content = b"first\nkey=SECRET1 other=SECRET2\nlast";
        let all = vec![finding(10, 17), finding(24, 31)];
        assert_eq!(snippet(content, &all[0], &all), "key=AK…XY other=AK…XY");
        assert_eq!(snippet(content, &all[1], &all), "key=AK…XY other=AK…XY");
    }

    #[test]
    fn the_rest_of_an_overlapping_longer_match_is_masked_too() {
        let content = b"token=SECRET.txt end";
        let all = vec![finding(6, 12), finding(6, 16)];
        assert_eq!(snippet(content, &all[0], &all), "token=AK…XY end");
    }

    #[test]
    fn long_lines_are_cut_around_the_match() {
        let mut content = "x".repeat(500).into_bytes();
        content.extend_from_slice(b"SECRET");
        content.extend(std::iter::repeat_n(b'y', 500));
        let all = vec![finding(500, 506)];
        let text = snippet(&content, &all[0], &all);
        assert!(text.contains("AK…XY"), "{text}");
        assert!(text.starts_with('…') && text.ends_with('…'));
        assert!(!text.contains("SECRET"));
    }

    #[test]
    fn a_path_is_masked_whole_and_uncut() {
        let long = "d/".repeat(100);
        let path = format!("{long}key-SECRET1.txt");
        let start = path.find("SECRET1").unwrap();
        let found = vec![finding(start, start + 7)];
        let shown = masked(path.as_bytes(), 0, path.len(), &found);
        assert_eq!(shown, format!("{long}key-AK…XY.txt"));
        // One path of a list: only its own part.
        let list = b"aSECRET\nSECRETb\nc";
        let found = vec![finding(1, 7), finding(8, 14)];
        assert_eq!(masked(list, 8, 15, &found), "AK…XYb");
        assert_eq!(masked(list, 16, 17, &found), "c");
        // Overlapping matches: one preview, the longer one's rest masked too.
        let found = vec![finding(4, 10), finding(4, 14)];
        assert_eq!(masked(b"key=SECRET.txt", 0, 14, &found), "key=AK…XY");
    }

    /// Finds every `SECRET` followed by a digit.
    struct SecretScanner;

    impl CommitScanner for SecretScanner {
        fn scan(&self, content: &[u8]) -> Vec<ContentFinding> {
            content
                .windows(7)
                .enumerate()
                .filter(|(_, window)| window.starts_with(b"SECRET") && window[6].is_ascii_digit())
                .map(|(start, _)| ContentFinding {
                    rule: "secret".into(),
                    start,
                    end: start + 7,
                    preview: "SE…".into(),
                })
                .collect()
        }
    }

    #[test]
    fn ref_names_are_scanned_and_shown_masked() {
        let update = |reference: &str, new: char| RefUpdate {
            old: "0".repeat(40),
            new: new.to_string().repeat(40),
            reference: reference.into(),
        };
        let updates = [
            update("refs/heads/main", '1'),
            update("refs/heads/SECRET1/x", '2'),
            update("refs/tags/key=SECRET2", '3'),
        ];
        let pushed: Vec<&RefUpdate> = updates.iter().collect();
        let mut found = Vec::new();
        let names = scan_ref_names(&pushed, &SecretScanner, &mut found);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(
            (
                found[0].file.as_str(),
                found[0].line,
                found[0].commit.as_str()
            ),
            (REF_NAME_FILE, 2, "2".repeat(40).as_str())
        );
        assert_eq!(found[0].snippet, "refs/heads/SE…/x");
        assert_eq!(
            (found[1].line, found[1].snippet.as_str()),
            (3, "refs/tags/key=SE…")
        );
        assert_eq!(names.name("refs/heads/main"), "refs/heads/main");
        assert_eq!(names.name("refs/heads/SECRET1/x"), "refs/heads/SE…/x");
        // In a message: whole, and as git shortens it.
        assert_eq!(
            names.text(
                "refs/heads/SECRET1/x: moved; ! [rejected] 2222 -> SECRET1/x, key=SECRET2 (hook)"
            ),
            "refs/heads/SE…/x: moved; ! [rejected] 2222 -> SE…/x, key=SE… (hook)"
        );
        assert!(MaskedNames::scan(&["refs/heads/main"], &SecretScanner).is_empty());
    }

    #[test]
    fn quoted_paths_are_unquoted() {
        assert_eq!(unquote_path("plain/path"), "plain/path");
        assert_eq!(unquote_path("\"a\\tb\""), "a\tb");
        assert_eq!(unquote_path("\"caf\\303\\251\""), "café");
        assert_eq!(unquote_path("\"q\\\"x\""), "q\"x");
    }

    #[test]
    fn a_directory_is_a_path_only_with_nothing_under_it() {
        let (a, t, b, z) = (
            "a".repeat(40),
            "c".repeat(40),
            "b".repeat(40),
            "0".repeat(40),
        );
        let log = format!(
            "\0\0{a}\nm\n\0\n:000000 040000 {z} {t} A\tkeys\n:000000 100644 {z} {b} A\tkeys/f\n:000000 040000 {z} {t} A\tempty\n:000000 040000 {z} {t} A\td\n:000000 040000 {z} {t} A\td/e\n:040000 040000 {t} {t} M\tgone\n:000000 160000 {z} {b} A\tg/sub\n:000000 040000 {z} {t} A\tg\n"
        );
        let chunks = split_log(log.as_bytes());
        assert_eq!(chunks[0].changed, vec![(b.clone(), "keys/f".to_string())]);
        assert_eq!(
            chunks[0].paths,
            [
                "keys/f".to_string(),
                format!("g/sub {b}"),
                "empty".to_string(),
                "d/e".to_string(),
                "gone".to_string()
            ]
        );
    }

    #[test]
    fn log_stream_splits_per_commit() {
        let a = "a".repeat(40);
        let b = "b".repeat(40);
        let log = format!(
            "\0\0{a}\nfirst message\n\0\n:000000 100644 {z} {b} A\tnew.txt\n:100644 000000 {b} {z} D\tgone.txt\n:000000 160000 {z} {b} A\tsub\n\0\0{b}\nsecond\n\0\n",
            z = "0".repeat(40)
        );
        let chunks = split_log(log.as_bytes());
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[0].commit, a);
        assert_eq!(chunks[0].message, b"first message\n");
        assert_eq!(chunks[0].changed, vec![(b.clone(), "new.txt".to_string())]);
        // A deleted path is the parent's; a submodule's path is scanned
        // with its id (the pusher's bytes too), which is not a file.
        assert_eq!(
            chunks[0].paths,
            vec!["new.txt".to_string(), format!("sub {b}")]
        );
        assert_eq!(chunks[1].commit, b);
        assert!(chunks[1].changed.is_empty());
        assert!(chunks[1].paths.is_empty());
        // Read as it comes, in pieces of any size, the stream splits the same.
        for piece in 1..=log.len() {
            assert_eq!(
                LogSplitter::split_in_pieces(log.as_bytes(), piece),
                vec![a.clone(), b.clone()],
                "pieces of {piece}"
            );
        }
    }

    #[test]
    fn overlapping_markers_split_the_same_in_pieces() {
        // Found by the `parsers` fuzz target: three NULs in a row hold two
        // overlapping markers; read byte by byte the splitter once cut at
        // the second, where `split_log` takes the first. (git's own stream
        // has no such run; the splitter must agree anyway.)
        for log in [
            &b"\0\0\0\n\x06"[..],
            b"\0\0A\n\0\0\0B\n",
            b"junk\0\0\0\0\0C\nmsg\0\n\0\0D\n",
            b"\0",
            b"",
        ] {
            let whole: Vec<String> = split_log(log).into_iter().map(|c| c.commit).collect();
            for piece in 1..=log.len().max(1) {
                assert_eq!(
                    LogSplitter::split_in_pieces(log, piece),
                    whole,
                    "{log:?} in pieces of {piece}"
                );
            }
        }
    }

    #[test]
    fn commits_split_into_headers_and_message() {
        let raw = b"tree t\nauthor a\nx-note n\n\nsubject\n\nbody\n";
        assert_eq!(
            split_commit(raw),
            (
                &b"tree t\nauthor a\nx-note n\n"[..],
                &b"subject\n\nbody\n"[..]
            )
        );
        assert_eq!(split_commit(b"tree t\n"), (&b"tree t\n"[..], &b""[..]));
        assert_eq!(split_commit(b"\nmsg"), (&b""[..], &b"msg"[..]));
    }

    #[test]
    fn tag_targets_that_are_not_commits_are_followed() {
        let id = "c".repeat(40);
        let tag = |kind: &str| format!("object {id}\ntype {kind}\ntag v1\n\nmessage\n");
        assert_eq!(tag_target(tag("commit").as_bytes()), None);
        assert_eq!(tag_target(tag("tag").as_bytes()), Some(id.clone()));
        assert_eq!(tag_target(tag("blob").as_bytes()), Some(id.clone()));
        assert_eq!(tag_target(tag("tree").as_bytes()), Some(id));
        assert_eq!(tag_target(b"garbage"), None);
    }
}
