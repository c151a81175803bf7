//! Scanning the commits of a push, one commit at a time.
//!
//! A secret added in one commit and removed in the next is invisible in the
//! push's combined diff, so every new commit (every commit the push brings
//! that no mirror ref reaches) is scanned on its own:
//!
//! - its message (and, for an annotated tag, the tag's message);
//! - its full diff against its first parent (the empty tree for a root
//!   commit), paths included;
//! - the full content of every file it adds or changes.
//!
//! The detectors sit behind [`CommitScanner`], a one-method seam: the DLP
//! engine (`bot_bottle_dlp::Scanner`) in production, a small stand-in in
//! tests. A scanner reports byte spans; this module turns them into a file,
//! a line number and a snippet with every match on that line replaced by its
//! masked preview, so nothing secret reaches a log, a proposal or the agent.
//!
//! Commits are read with one `git log --stdin` stream (the diffs) and one
//! `git cat-file --batch` process (the blobs), not one process per commit.

use std::collections::{BTreeSet, HashMap};
use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use crate::error::{GateError, Result};
use crate::git::{Invocation, is_oid};
use crate::hook::RefUpdate;

/// The largest file the gate will scan; a push adding a bigger one is
/// refused (a secret could hide past any cut-off).
pub const MAX_SCANNED_BLOB_BYTES: u64 = 100 * 1024 * 1024;
/// The most characters of a snippet shown around a match.
pub const MAX_SNIPPET_CHARS: usize = 160;
/// The `file` of a finding in a commit message.
pub const COMMIT_MESSAGE_FILE: &str = "(commit message)";
/// The `file` of a finding in an annotated tag.
pub const TAG_MESSAGE_FILE: &str = "(tag message)";

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

/// The seam to the secret detectors: scan one blob, diff or message.
/// Only findings that should hold a push are returned (no warnings).
pub trait CommitScanner: Send + Sync {
    fn scan(&self, content: &[u8]) -> Vec<ContentFinding>;

    /// This scanner plus the rules of a repo's own rules file
    /// ([`REPO_RULES_FILE`], text `rules`). `Ok(None)`: extra rules are not
    /// supported and this scanner is used as it is. An error says why the
    /// file was refused.
    fn with_repo_rules(
        &self,
        rules: &str,
    ) -> Result<Option<std::sync::Arc<dyn CommitScanner>>, String> {
        let _ = rules;
        Ok(None)
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
    /// 1-based line in `file` (in the diff: the new file's line for added
    /// and context lines, the old file's for removed lines).
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

/// The commits the push brings that no mirror ref reaches, oldest first,
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
                "--all",
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

/// Scan every new commit (and each pushed annotated tag) of a push.
pub async fn scan_push(
    access: &ObjectAccess,
    updates: &[RefUpdate],
    scanner: &dyn CommitScanner,
    timeout: Duration,
) -> Result<Vec<CommitFinding>, ScanError> {
    let commits = new_commits(access, updates, timeout).await?;
    let mut findings = Vec::new();
    // Annotated tags: scan the whole tag object (tagger, message).
    for update in updates.iter().filter(|update| !update.is_delete()) {
        let kind = access
            .git(["cat-file", "-t", update.new.as_str()])
            .checked(b"", timeout)
            .await?;
        if String::from_utf8_lossy(&kind).trim() == "tag" {
            let tag = access
                .git(["cat-file", "tag", update.new.as_str()])
                .checked(b"", timeout)
                .await?;
            place(
                &tag,
                scanner,
                |_| Some((TAG_MESSAGE_FILE.to_string(), None)),
                &update.new,
                &update.reference,
                &mut findings,
            );
        }
    }
    if commits.is_empty() {
        return Ok(findings);
    }
    let references: HashMap<&str, &str> = commits
        .iter()
        .map(|commit| (commit.id.as_str(), commit.reference.as_str()))
        .collect();
    let mut input = String::new();
    for commit in &commits {
        input.push_str(&commit.id);
        input.push('\n');
    }
    let log = access
        .git([
            "-c",
            "core.quotePath=true",
            "log",
            "--stdin",
            "--no-walk=unsorted",
            "--diff-merges=first-parent",
            "--no-renames",
            "--no-abbrev",
            "--full-index",
            "--no-color",
            "--no-ext-diff",
            "--no-textconv",
            "--raw",
            "-p",
            "--format=%x00%x00%H%n%B%x00",
        ])
        .checked(input.as_bytes(), timeout)
        .await?;
    let chunks = split_log(&log);
    // Ask for every blob up front (a writer task feeds `cat-file`) and read
    // the answers in the same order: no round trip per blob.
    let mut batch = BlobReader::start(access)?;
    batch.feed(
        chunks
            .iter()
            .filter(|chunk| references.contains_key(chunk.commit.as_str()))
            .flat_map(|chunk| chunk.changed.iter().map(|(blob, _)| blob.clone()))
            .collect(),
    );
    for chunk in chunks {
        let Some(reference) = references.get(chunk.commit.as_str()) else {
            continue;
        };
        let commit = chunk.commit.as_str();
        place(
            chunk.message,
            scanner,
            |_| Some((COMMIT_MESSAGE_FILE.to_string(), None)),
            commit,
            reference,
            &mut findings,
        );
        for (blob, path) in &chunk.changed {
            let content = tokio::time::timeout(timeout, batch.read_next(blob))
                .await
                .map_err(|_| GateError::Timeout {
                    command: "git cat-file --batch".to_string(),
                    timeout,
                })??;
            let Some(content) = content else {
                return Err(ScanError::TooLarge {
                    commit: commit.to_string(),
                    file: path.clone(),
                });
            };
            place(
                &content,
                scanner,
                |_| Some((path.clone(), None)),
                commit,
                reference,
                &mut findings,
            );
        }
        // The diff after the files, so a match seen in both keeps the
        // file's snippet (without the diff's `+`).
        let patch = chunk.patch;
        let index = PatchIndex::new(patch);
        place(
            patch,
            scanner,
            |offset| index.locate(offset),
            commit,
            reference,
            &mut findings,
        );
    }
    // The same match reported from the file and from the diff: keep the first.
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

/// Scan `content` and place each finding. `locate(offset)` names the file
/// and, when the content is not that file (a patch), the file's line; `None`
/// skips the finding (a removed line of a patch: it lives in the parent,
/// which is upstream already or scanned on its own).
fn place(
    content: &[u8],
    scanner: &dyn CommitScanner,
    locate: impl Fn(usize) -> Option<(String, Option<u64>)>,
    commit: &str,
    reference: &str,
    out: &mut Vec<CommitFinding>,
) {
    let found = scanner.scan(content);
    for finding in &found {
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
            snippet: snippet(content, finding, &found),
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
    /// The patch text (`diff --git …` onwards).
    pub patch: &'a [u8],
    /// `(blob id, path)` of every file added or changed (not submodules).
    pub changed: Vec<(String, String)>,
}

/// Split `git log --format=%x00%x00%H%n%B%x00 --raw -p` output per commit.
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
        let diff = after.get(message_end + 1..).unwrap_or(&[]);
        let patch_start = find(diff, b"diff --git ").unwrap_or(diff.len());
        let raw = &diff[..patch_start];
        let patch = &diff[patch_start..];
        let mut changed = Vec::new();
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
            if status.starts_with('D') || new_mode == "160000" || !is_oid(new_blob) {
                continue;
            }
            changed.push((new_blob.to_string(), unquote_path(path)));
        }
        chunks.push(LogChunk {
            commit,
            message,
            patch,
            changed,
        });
    }
    chunks
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
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

/// Maps an offset in a patch to the file and line it shows.
pub struct PatchIndex {
    /// (line start offset, file, file line, removed) for every patch line.
    lines: Vec<(usize, String, Option<u64>, bool)>,
}

impl PatchIndex {
    pub fn new(patch: &[u8]) -> Self {
        let mut lines = Vec::new();
        let mut file = String::new();
        let (mut old_line, mut new_line) = (0u64, 0u64);
        let mut in_hunk = false;
        let mut offset = 0;
        for raw in patch.split_inclusive(|byte| *byte == b'\n') {
            let text = String::from_utf8_lossy(raw);
            let text = text.trim_end_matches('\n');
            let mut at = None;
            let mut removed = false;
            if text.starts_with("diff --git ") {
                in_hunk = false;
                file = diff_header_path(text);
            } else if let Some(path) = text.strip_prefix("+++ ") {
                if path != "/dev/null" {
                    file = unquote_path(path)
                        .strip_prefix("b/")
                        .map_or_else(|| unquote_path(path), str::to_string);
                }
            } else if let Some(hunk) = text.strip_prefix("@@ ") {
                if let Some((old, new)) = parse_hunk(hunk) {
                    old_line = old;
                    new_line = new;
                    in_hunk = true;
                }
            } else if in_hunk {
                match text.as_bytes().first() {
                    Some(b'+') => {
                        at = Some(new_line);
                        new_line += 1;
                    }
                    Some(b'-') => {
                        at = Some(old_line);
                        removed = true;
                        old_line += 1;
                    }
                    Some(b' ') => {
                        at = Some(new_line);
                        old_line += 1;
                        new_line += 1;
                    }
                    _ => {}
                }
            }
            lines.push((offset, file.clone(), at, removed));
            offset += raw.len();
        }
        Self { lines }
    }

    /// The file and line shown at `offset`; `None` on a removed line.
    pub fn locate(&self, offset: usize) -> Option<(String, Option<u64>)> {
        let index = match self
            .lines
            .binary_search_by_key(&offset, |(start, ..)| *start)
        {
            Ok(index) => index,
            Err(0) => 0,
            Err(index) => index - 1,
        };
        match self.lines.get(index) {
            Some((_, _, _, true)) => None,
            Some((_, file, line, false)) => Some((
                if file.is_empty() {
                    "(diff)".to_string()
                } else {
                    file.clone()
                },
                *line,
            )),
            None => Some(("(diff)".to_string(), None)),
        }
    }
}

fn diff_header_path(header: &str) -> String {
    // diff --git a/x b/x  (quoted when unusual)
    let rest = header.trim_start_matches("diff --git ");
    if let Some(index) = rest.rfind(" b/") {
        return rest[index + 3..].to_string();
    }
    if let Some(index) = rest.rfind(" \"b/") {
        return unquote_path(&format!("\"{}", &rest[index + 4..]));
    }
    rest.to_string()
}

fn parse_hunk(hunk: &str) -> Option<(u64, u64)> {
    // -a[,b] +c[,d] @@
    let mut parts = hunk.split(' ');
    let old = parts.next()?.strip_prefix('-')?;
    let new = parts.next()?.strip_prefix('+')?;
    let first = |range: &str| range.split(',').next()?.parse::<u64>().ok();
    Some((first(old)?, first(new)?))
}

/// A `git cat-file --batch` process reading blobs by id.
struct BlobReader {
    _child: tokio::process::Child,
    stdin: Option<tokio::process::ChildStdin>,
    stdout: BufReader<tokio::process::ChildStdout>,
    writer: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for BlobReader {
    fn drop(&mut self) {
        if let Some(writer) = self.writer.take() {
            writer.abort();
        }
    }
}

impl BlobReader {
    fn start(access: &ObjectAccess) -> Result<Self> {
        let invocation = access.git(["cat-file", "--batch"]);
        let mut child = invocation.spawn_piped()?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(GateError::UnexpectedOutput {
                command: "git cat-file --batch".into(),
                detail: "no pipes".into(),
            });
        };
        Ok(Self {
            _child: child,
            stdin: Some(stdin),
            stdout: BufReader::new(stdout),
            writer: None,
        })
    }

    /// Request these blobs, in this order, from a writer task.
    fn feed(&mut self, ids: Vec<String>) {
        let Some(mut stdin) = self.stdin.take() else {
            return;
        };
        self.writer = Some(tokio::spawn(async move {
            let mut request = String::with_capacity(ids.len() * 41);
            for id in ids {
                request.push_str(&id);
                request.push('\n');
            }
            let _ = stdin.write_all(request.as_bytes()).await;
            let _ = stdin.shutdown().await;
        }));
    }

    /// The next fed blob's bytes (`id` must be the next one fed), or `None`
    /// when it is larger than [`MAX_SCANNED_BLOB_BYTES`].
    async fn read_next(&mut self, id: &str) -> Result<Option<Vec<u8>>> {
        let io = |source| GateError::Io {
            command: "git cat-file --batch".into(),
            source,
        };
        let mut header = String::new();
        self.stdout.read_line(&mut header).await.map_err(io)?;
        let fields: Vec<&str> = header.trim_end().split(' ').collect();
        let size = match fields.as_slice() {
            [answered, _, size] if *answered == id => size.parse::<u64>().ok(),
            _ => None,
        };
        let Some(size) = size else {
            return Err(GateError::UnexpectedOutput {
                command: "git cat-file --batch".into(),
                detail: header.trim_end().to_string(),
            });
        };
        let mut content = vec![0u8; usize::try_from(size.min(MAX_SCANNED_BLOB_BYTES)).unwrap_or(0)];
        if size > MAX_SCANNED_BLOB_BYTES {
            // Drain it so the stream stays in step; the push is refused anyway.
            let mut sink = tokio::io::sink();
            let mut limited = (&mut self.stdout).take(size + 1);
            tokio::io::copy(&mut limited, &mut sink).await.map_err(io)?;
            return Ok(None);
        }
        self.stdout.read_exact(&mut content).await.map_err(io)?;
        let mut newline = [0u8; 1];
        self.stdout.read_exact(&mut newline).await.map_err(io)?;
        Ok(Some(content))
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
    fn quoted_paths_are_unquoted() {
        assert_eq!(unquote_path("plain/path"), "plain/path");
        assert_eq!(unquote_path("\"a\\tb\""), "a\tb");
        assert_eq!(unquote_path("\"caf\\303\\251\""), "café");
        assert_eq!(unquote_path("\"q\\\"x\""), "q\"x");
    }

    #[test]
    fn patch_offsets_map_to_file_lines() {
        let patch = b"diff --git a/f.txt b/f.txt\nindex 1..2 100644\n--- a/f.txt\n+++ b/f.txt\n@@ -3,2 +3,3 @@\n ctx\n-old\n+new\n+added\n";
        let index = PatchIndex::new(patch);
        let at = |needle: &str| {
            let offset = find(patch, needle.as_bytes()).unwrap();
            index.locate(offset + 1)
        };
        assert_eq!(at(" ctx"), Some(("f.txt".into(), Some(3))));
        assert_eq!(at("-old"), None, "removed lines are the parent's");
        assert_eq!(at("+new"), Some(("f.txt".into(), Some(4))));
        assert_eq!(at("+added"), Some(("f.txt".into(), Some(5))));
    }

    #[test]
    fn log_stream_splits_per_commit() {
        let a = "a".repeat(40);
        let b = "b".repeat(40);
        let log = format!(
            "\0\0{a}\nfirst message\n\0\n:000000 100644 {z} {b} A\tnew.txt\n:100644 000000 {b} {z} D\tgone.txt\n:000000 160000 {z} {b} A\tsub\n\ndiff --git a/new.txt b/new.txt\n+x\n\0\0{b}\nsecond\n\0\n",
            z = "0".repeat(40)
        );
        let chunks = split_log(log.as_bytes());
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[0].commit, a);
        assert_eq!(chunks[0].message, b"first message\n");
        assert_eq!(chunks[0].changed, vec![(b.clone(), "new.txt".to_string())]);
        assert!(chunks[0].patch.starts_with(b"diff --git"));
        assert_eq!(chunks[1].commit, b);
        assert!(chunks[1].changed.is_empty());
    }
}
