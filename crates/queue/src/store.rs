//! One bottle's queue directory: atomic writes, listing, answering,
//! archiving and crash recovery. See the crate docs for the layout and who
//! does each step.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{BadEntry, BadReason, QueueError};
use crate::failpoint::{Failpoint, Failpoints};
use crate::id::{ProposalId, check_id_text};
use crate::model::{Actor, Decision, DecisionError, Payload, Proposal, Response, SCHEMA_VERSION};

/// File name suffix of a proposal: `<id>.proposal.json`.
pub const PROPOSAL_SUFFIX: &str = ".proposal.json";
/// File name suffix of a response: `<id>.response.json`.
pub const RESPONSE_SUFFIX: &str = ".response.json";
/// Prefix of in-flight temporary files; readers skip them.
pub const TEMP_PREFIX: &str = ".tmp-";
/// The subdirectory the acting sidecar archives answered proposals into.
pub const PROCESSED_DIR: &str = "processed";
/// A temporary file older than this was left by a crashed writer (a write
/// takes milliseconds); [`Queue::sweep_stale_temps`] removes it.
pub const STALE_TEMP_AGE: Duration = Duration::from_secs(10 * 60);
/// The largest queue file read. Proposals are small; anything bigger is
/// reported, not read into memory.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Whether waits use file notifications (`notify`) as well as polling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Notifications {
    /// Use notifications when they can be set up; poll as well, always.
    #[default]
    Auto,
    /// Poll only.
    Off,
}

/// How a [`Queue`] behaves; the defaults are right outside tests.
#[derive(Debug, Clone)]
pub struct QueueOptions {
    /// How often a wait re-reads the directory without a notification.
    pub poll_interval: Duration,
    pub notifications: Notifications,
    pub failpoints: Failpoints,
}

impl Default for QueueOptions {
    fn default() -> Self {
        Self {
            poll_interval: crate::wait::POLL_INTERVAL,
            notifications: Notifications::Auto,
            failpoints: Failpoints::default(),
        }
    }
}

/// Where a proposal is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EntryState {
    /// No response yet: the operator's turn.
    Pending,
    /// Answered; the acting sidecar has not archived it yet.
    Answered,
    /// Archived in `processed/` by the acting sidecar.
    Processed,
}

impl EntryState {
    /// Listing order: the operator's work first.
    pub const fn rank(self) -> u8 {
        match self {
            Self::Pending => 0,
            Self::Answered => 1,
            Self::Processed => 2,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Answered => "answered",
            Self::Processed => "processed",
        }
    }
}

/// A response file as found: usable, or reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseFile {
    Valid(Response),
    Bad(BadEntry),
}

/// One proposal with its response, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The queue directory it was found in.
    pub queue: PathBuf,
    pub state: EntryState,
    pub proposal: Proposal,
    pub response: Option<ResponseFile>,
}

impl Entry {
    /// The response, when there is a usable one.
    pub fn valid_response(&self) -> Option<&Response> {
        match &self.response {
            Some(ResponseFile::Valid(response)) => Some(response),
            _ => None,
        }
    }
}

/// Which proposals [`Queue::list`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Pending and answered (not yet archived).
    Active,
    /// Those and everything in `processed/`.
    All,
}

/// The result of listing a queue: usable entries newest first, and every
/// file that was skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    pub entries: Vec<Entry>,
    pub bad: Vec<BadEntry>,
}

/// An answered proposal the acting sidecar has not archived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answered {
    pub proposal: Proposal,
    pub response: Response,
    /// Set when the response breaks its kind's rules (a hand-edited file):
    /// the actor must treat it as a refusal.
    pub problem: Option<DecisionError>,
}

/// What [`Queue::recover`] found and did for one actor after a restart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Answered, not archived: act on each (idempotently), then archive it.
    pub answered: Vec<Answered>,
    /// Still waiting for the operator.
    pub pending: Vec<Proposal>,
    /// Archives a crash interrupted, now completed (already acted on).
    pub finished_archives: Vec<ProposalId>,
    /// Stray second copies of archived responses, removed.
    pub removed_duplicates: Vec<PathBuf>,
    /// Temporary files of crashed writers, removed.
    pub removed_temps: Vec<PathBuf>,
    /// Files skipped, as in a listing.
    pub bad: Vec<BadEntry>,
}

/// One bottle's queue directory.
#[derive(Debug, Clone)]
pub struct Queue {
    dir: PathBuf,
    options: QueueOptions,
}

/// A file read from the queue.
pub(crate) enum Loaded<T> {
    Missing,
    Good(T),
    Bad(BadEntry),
}

/// What a queue file name says it is.
enum Name {
    Temp,
    Proposal(ProposalId),
    Response(ProposalId),
    Processed,
    Unexpected,
}

fn classify(name: &str) -> Name {
    if name.starts_with(TEMP_PREFIX) {
        return Name::Temp;
    }
    if name == PROCESSED_DIR {
        return Name::Processed;
    }
    if let Some(stem) = name.strip_suffix(PROPOSAL_SUFFIX) {
        return ProposalId::parse(stem).map_or(Name::Unexpected, Name::Proposal);
    }
    if let Some(stem) = name.strip_suffix(RESPONSE_SUFFIX) {
        return ProposalId::parse(stem).map_or(Name::Unexpected, Name::Response);
    }
    Name::Unexpected
}

/// The names in one directory, sorted into proposals and responses.
#[derive(Default)]
struct Scan {
    proposals: BTreeMap<ProposalId, PathBuf>,
    responses: BTreeMap<ProposalId, PathBuf>,
    temps: Vec<PathBuf>,
    bad: Vec<BadEntry>,
}

fn scan(dir: &Path, is_root: bool) -> Result<Scan, QueueError> {
    let mut found = Scan::default();
    let reader = match fs::read_dir(dir) {
        Ok(reader) => reader,
        Err(error) if error.kind() == io::ErrorKind::NotFound && !is_root => return Ok(found),
        Err(error) => return Err(QueueError::io("read the queue directory", dir)(error)),
    };
    for item in reader {
        let item = item.map_err(QueueError::io("read the queue directory", dir))?;
        let path = item.path();
        let name = item.file_name();
        let Some(name) = name.to_str() else {
            found.bad.push(report(path, BadReason::UnexpectedName));
            continue;
        };
        match classify(name) {
            Name::Temp => found.temps.push(path),
            Name::Proposal(id) => {
                found.proposals.insert(id, path);
            }
            Name::Response(id) => {
                found.responses.insert(id, path);
            }
            Name::Processed if is_root => {}
            Name::Processed | Name::Unexpected => {
                found.bad.push(report(path, BadReason::UnexpectedName));
            }
        }
    }
    Ok(found)
}

/// Build a bad entry and log it: nothing is skipped silently.
fn report(path: PathBuf, reason: BadReason) -> BadEntry {
    tracing::warn!(path = %path.display(), reason = %reason, "skipping a bad queue file");
    BadEntry { path, reason }
}

trait QueueFile: DeserializeOwned {
    fn file_id(&self) -> &ProposalId;
}

impl QueueFile for Proposal {
    fn file_id(&self) -> &ProposalId {
        &self.id
    }
}

impl QueueFile for Response {
    fn file_id(&self) -> &ProposalId {
        &self.id
    }
}

/// Read and check one queue file: size, JSON, schema version, shape, and
/// that the id inside matches the name.
fn load<T: QueueFile>(path: &Path, id: &ProposalId) -> Loaded<T> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Loaded::Missing,
        Err(error) => {
            let message = error.to_string();
            return Loaded::Bad(report(path.into(), BadReason::Unreadable { message }));
        }
    };
    let mut bytes = Vec::new();
    if let Err(error) = file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes) {
        let message = error.to_string();
        return Loaded::Bad(report(path.into(), BadReason::Unreadable { message }));
    }
    if bytes.len() as u64 > MAX_FILE_BYTES {
        let size = fs::metadata(path).map_or(bytes.len() as u64, |meta| meta.len());
        let reason = BadReason::TooLarge {
            size,
            limit: MAX_FILE_BYTES,
        };
        return Loaded::Bad(report(path.into(), reason));
    }
    match decode::<T>(&bytes, id) {
        Ok(value) => Loaded::Good(value),
        Err(reason) => Loaded::Bad(report(path.into(), reason)),
    }
}

fn decode<T: QueueFile>(bytes: &[u8], id: &ProposalId) -> Result<T, BadReason> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|error| BadReason::NotJson {
            message: error.to_string(),
        })?;
    match value.get("schema_version") {
        None => return Err(BadReason::MissingSchemaVersion),
        Some(version) if version.as_u64() != Some(u64::from(SCHEMA_VERSION)) => {
            return Err(BadReason::UnknownSchemaVersion {
                found: version.to_string(),
                supported: SCHEMA_VERSION,
            });
        }
        Some(_) => {}
    }
    let file: T = serde_json::from_value(value).map_err(|error| BadReason::Invalid {
        message: error.to_string(),
    })?;
    if file.file_id() != id {
        return Err(BadReason::IdMismatch {
            in_file: file.file_id().to_string(),
            in_name: id.to_string(),
        });
    }
    Ok(file)
}

fn sync_dir(dir: &Path) -> Result<(), QueueError> {
    File::open(dir)
        .and_then(|handle| handle.sync_all())
        .map_err(QueueError::io("sync the directory", dir))
}

fn exists(path: &Path) -> Result<bool, QueueError> {
    path.try_exists().map_err(QueueError::io("look for", path))
}

fn remove_if_present(path: &Path) -> Result<(), QueueError> {
    match fs::remove_file(path) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => {
            Err(QueueError::io("remove", path)(error))
        }
        _ => Ok(()),
    }
}

/// How a finished temporary file takes its final name.
#[derive(Clone, Copy)]
enum Placement {
    /// `rename`: the name is fresh (a new proposal id).
    Rename,
    /// No-clobber: fail if the name exists (a response; the first answer wins).
    NoClobber,
}

enum WriteFailure {
    Exists,
    Error(QueueError),
}

impl From<QueueError> for WriteFailure {
    fn from(error: QueueError) -> Self {
        Self::Error(error)
    }
}

fn to_json<T: Serialize>(value: &T, id: &ProposalId) -> Result<Vec<u8>, QueueError> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|source| QueueError::Encode {
        id: id.clone(),
        source,
    })?;
    bytes.push(b'\n');
    Ok(bytes)
}

impl Queue {
    /// Open a queue, creating the directory and `processed/` if needed (what a
    /// sidecar does at start).
    pub fn create(dir: impl Into<PathBuf>) -> Result<Self, QueueError> {
        Self::create_with(dir, QueueOptions::default())
    }

    pub fn create_with(dir: impl Into<PathBuf>, options: QueueOptions) -> Result<Self, QueueError> {
        let dir = dir.into();
        let processed = dir.join(PROCESSED_DIR);
        fs::create_dir_all(&processed)
            .map_err(QueueError::io("create the queue directory", &processed))?;
        Ok(Self { dir, options })
    }

    /// Open an existing queue (what the operator's tools do); an absent
    /// directory is an error, never created.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, QueueError> {
        Self::open_with(dir, QueueOptions::default())
    }

    pub fn open_with(dir: impl Into<PathBuf>, options: QueueOptions) -> Result<Self, QueueError> {
        let dir = dir.into();
        let metadata = fs::metadata(&dir).map_err(QueueError::io("open the queue", &dir))?;
        if !metadata.is_dir() {
            return Err(QueueError::Io {
                operation: "open the queue",
                path: dir,
                source: io::Error::new(io::ErrorKind::NotADirectory, "not a directory"),
            });
        }
        Ok(Self { dir, options })
    }

    /// The queue directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn options(&self) -> &QueueOptions {
        &self.options
    }

    pub fn proposal_path(&self, id: &ProposalId) -> PathBuf {
        self.dir.join(format!("{id}{PROPOSAL_SUFFIX}"))
    }

    pub fn response_path(&self, id: &ProposalId) -> PathBuf {
        self.dir.join(format!("{id}{RESPONSE_SUFFIX}"))
    }

    fn processed_dir(&self) -> PathBuf {
        self.dir.join(PROCESSED_DIR)
    }

    fn processed_proposal_path(&self, id: &ProposalId) -> PathBuf {
        self.processed_dir().join(format!("{id}{PROPOSAL_SUFFIX}"))
    }

    fn processed_response_path(&self, id: &ProposalId) -> PathBuf {
        self.processed_dir().join(format!("{id}{RESPONSE_SUFFIX}"))
    }

    /// Write `bytes` to `final_path` atomically: a temporary file in the same
    /// directory, written and synced, then renamed or no-clobber linked into
    /// place, then the directory synced.
    fn write_atomically(
        &self,
        final_path: &Path,
        bytes: &[u8],
        placement: Placement,
        failpoint: Failpoint,
    ) -> Result<(), WriteFailure> {
        let mut builder = tempfile::Builder::new();
        builder.prefix(TEMP_PREFIX).suffix(".json");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // Readable by the other side of the queue, which may run as
            // another user (a sidecar in a container, the operator on the host).
            builder.permissions(fs::Permissions::from_mode(0o644));
        }
        let mut temp = builder
            .tempfile_in(&self.dir)
            .map_err(QueueError::io("create a temporary file in", &self.dir))?;
        temp.write_all(bytes)
            .and_then(|()| temp.as_file().sync_all())
            .map_err(QueueError::io("write", temp.path()))?;
        self.options.failpoints.hit(failpoint);
        let placed = match placement {
            Placement::Rename => temp.persist(final_path),
            Placement::NoClobber => temp.persist_noclobber(final_path),
        };
        match placed {
            Ok(_) => {}
            Err(error) if error.error.kind() == io::ErrorKind::AlreadyExists => {
                return Err(WriteFailure::Exists);
            }
            Err(error) => {
                return Err(QueueError::io("put in place", final_path)(error.error).into());
            }
        }
        sync_dir(&self.dir)?;
        Ok(())
    }

    /// File a proposal (the sidecar's step). Returns the path written.
    pub fn submit(&self, proposal: &Proposal) -> Result<PathBuf, QueueError> {
        let path = self.proposal_path(&proposal.id);
        let bytes = to_json(proposal, &proposal.id)?;
        match self.write_atomically(
            &path,
            &bytes,
            Placement::Rename,
            Failpoint::ProposalTempWritten,
        ) {
            Ok(()) => {}
            Err(WriteFailure::Error(error)) => return Err(error),
            Err(WriteFailure::Exists) => {
                return Err(QueueError::Io {
                    operation: "file a proposal as",
                    path,
                    source: io::Error::from(io::ErrorKind::AlreadyExists),
                });
            }
        }
        tracing::info!(id = %proposal.id, kind = %proposal.kind(), bottle = %proposal.bottle, "proposal filed");
        Ok(path)
    }

    /// Build and file a new proposal for `bottle`.
    pub fn propose(&self, bottle: &str, payload: Payload) -> Result<Proposal, QueueError> {
        let proposal = Proposal::new(bottle, payload);
        self.submit(&proposal)?;
        Ok(proposal)
    }

    pub(crate) fn load_proposal(&self, id: &ProposalId) -> Loaded<Proposal> {
        load(&self.proposal_path(id), id)
    }

    pub(crate) fn load_response(&self, id: &ProposalId) -> Loaded<Response> {
        load(&self.response_path(id), id)
    }

    /// The decision already on file for `id`, for error messages.
    fn decision_on_file(
        &self,
        id: &ProposalId,
    ) -> (Option<crate::model::DecisionKind>, Option<String>) {
        for path in [self.response_path(id), self.processed_response_path(id)] {
            if let Loaded::Good(response) = load::<Response>(&path, id) {
                return (Some(response.decision.kind()), response.answered_by);
            }
        }
        (None, None)
    }

    /// The error for a proposal that is not pending in this queue.
    fn not_pending(&self, id: &ProposalId) -> QueueError {
        match exists(&self.processed_proposal_path(id)) {
            Ok(true) => {
                let (decision, answered_by) = self.decision_on_file(id);
                QueueError::AlreadyProcessed {
                    id: id.clone(),
                    decision,
                    answered_by,
                }
            }
            Ok(false) => QueueError::NotFound {
                query: id.to_string(),
                searched: vec![self.dir.clone()],
            },
            Err(error) => error,
        }
    }

    /// Answer a proposal (the operator's step). The decision is checked
    /// against the kind's rules; the response is created no-clobber, so of two
    /// operators answering at once exactly one wins and the other gets
    /// [`QueueError::AlreadyAnswered`].
    pub fn answer(
        &self,
        id: &ProposalId,
        decision: Decision,
        reason: Option<String>,
        answered_by: Option<String>,
    ) -> Result<Response, QueueError> {
        let proposal = match self.load_proposal(id) {
            Loaded::Good(proposal) => proposal,
            Loaded::Missing => return Err(self.not_pending(id)),
            Loaded::Bad(entry) => return Err(QueueError::BadProposal(entry)),
        };
        let response =
            Response::new(&proposal, decision, reason, answered_by).map_err(|source| {
                QueueError::Decision {
                    id: id.clone(),
                    source,
                }
            })?;
        self.place_response(&proposal, &response)?;
        tracing::debug!(id = %id, decision = %response.decision.kind(), "proposal answered");
        Ok(response)
    }

    fn place_response(&self, proposal: &Proposal, response: &Response) -> Result<(), QueueError> {
        let id = &proposal.id;
        let path = self.response_path(id);
        let bytes = to_json(response, id)?;
        match self.write_atomically(
            &path,
            &bytes,
            Placement::NoClobber,
            Failpoint::ResponseTempWritten,
        ) {
            Ok(()) => {}
            Err(WriteFailure::Error(error)) => return Err(error),
            Err(WriteFailure::Exists) => {
                let (decision, answered_by) = self.decision_on_file(id);
                return Err(QueueError::AlreadyAnswered {
                    id: id.clone(),
                    decision,
                    answered_by,
                });
            }
        }
        self.options.failpoints.hit(Failpoint::ResponseWritten);
        // The proposal was pending when read, but it may have been archived
        // since. Either our answer is the one being archived (the sidecar saw
        // it and acted at once: fine), or an earlier answer was acted on and
        // archived before ours landed — then ours is an orphan nobody will act
        // on: take it back and say so.
        if !exists(&self.proposal_path(id))? {
            let ours = match load::<Response>(&self.processed_response_path(id), id) {
                Loaded::Good(archived) => archived == *response,
                Loaded::Missing => true,
                Loaded::Bad(_) => false,
            };
            if !ours {
                remove_if_present(&path)?;
                sync_dir(&self.dir)?;
                return Err(self.not_pending(id));
            }
        }
        Ok(())
    }

    /// The acting sidecar gives up waiting: record `expired` as the response,
    /// unless an operator answered first — then that answer is returned and
    /// stands. Either way the caller then acts on the returned response and
    /// archives.
    pub fn expire(
        &self,
        id: &ProposalId,
        reason: &str,
        actor: Actor,
    ) -> Result<Response, QueueError> {
        let proposal = match self.load_proposal(id) {
            Loaded::Good(proposal) => proposal,
            Loaded::Missing => return Err(self.not_pending(id)),
            Loaded::Bad(entry) => return Err(QueueError::BadProposal(entry)),
        };
        let expired = Response::expired(&proposal, reason.to_string(), actor);
        match self.place_response(&proposal, &expired) {
            Ok(()) => Ok(expired),
            Err(QueueError::AlreadyAnswered { .. }) => match self.load_response(id) {
                Loaded::Good(response) => Ok(response),
                Loaded::Missing => Err(self.not_pending(id)),
                Loaded::Bad(entry) => Err(QueueError::BadResponse(entry)),
            },
            Err(error) => Err(error),
        }
    }

    /// Move an answered proposal and its response into `processed/` (the
    /// acting sidecar's last step, after it has acted). Idempotent, and safe
    /// to repeat after a crash at any point: the proposal moves first (from
    /// then on nobody can answer it), then the response is linked into
    /// `processed/` and removed from the queue.
    pub fn archive(&self, id: &ProposalId) -> Result<(), QueueError> {
        self.options.failpoints.hit(Failpoint::ArchiveStarting);
        let proposal = self.proposal_path(id);
        let response = self.response_path(id);
        let archived_proposal = self.processed_proposal_path(id);
        let archived_response = self.processed_response_path(id);
        if !exists(&response)? && !exists(&archived_response)? {
            return Err(QueueError::NotAnswered { id: id.clone() });
        }
        let processed = self.processed_dir();
        fs::create_dir_all(&processed).map_err(QueueError::io("create", &processed))?;
        if exists(&proposal)? {
            fs::rename(&proposal, &archived_proposal)
                .map_err(QueueError::io("archive", &proposal))?;
            sync_dir(&processed)?;
            sync_dir(&self.dir)?;
        } else if !exists(&archived_proposal)? {
            return Err(QueueError::NotFound {
                query: id.to_string(),
                searched: vec![self.dir.clone()],
            });
        }
        self.options.failpoints.hit(Failpoint::ArchiveBetweenMoves);
        if exists(&response)? {
            self.move_response_no_clobber(&response, &archived_response)?;
        }
        tracing::info!(id = %id, "proposal archived");
        Ok(())
    }

    /// Link the response into `processed/` (never over one already there),
    /// then remove it from the queue. If `processed/` already has a response
    /// for this id, the one in the queue is a leftover (a crash after the
    /// link, or a late second answer) and is removed.
    fn move_response_no_clobber(&self, from: &Path, to: &Path) -> Result<(), QueueError> {
        let processed = self.processed_dir();
        match fs::hard_link(from, to) {
            Ok(()) => {
                sync_dir(&processed)?;
                self.options
                    .failpoints
                    .hit(Failpoint::ArchiveResponseLinked);
            }
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
                tracing::warn!(path = %from.display(), "removing a response already archived");
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(_) => {
                // A file system without hard links: check, then rename. Only
                // the acting sidecar moves responses, so nothing races here.
                if exists(to)? {
                    tracing::warn!(path = %from.display(), "removing a response already archived");
                } else {
                    fs::rename(from, to).map_err(QueueError::io("archive", from))?;
                    sync_dir(&processed)?;
                    return sync_dir(&self.dir);
                }
            }
        }
        remove_if_present(from)?;
        sync_dir(&self.dir)
    }

    /// Everything in the queue: entries newest first (ids sort by time) and
    /// every file that could not be used. Fails only if the directory itself
    /// cannot be read.
    pub fn list(&self, scope: Scope) -> Result<Listing, QueueError> {
        let root = scan(&self.dir, true)?;
        let processed = if scope == Scope::All {
            scan(&self.processed_dir(), false)?
        } else {
            Scan::default()
        };
        let mut listing = Listing {
            entries: Vec::new(),
            bad: root.bad,
        };
        listing.bad.extend(processed.bad);
        for (id, path) in &root.proposals {
            let proposal = match load::<Proposal>(path, id) {
                Loaded::Good(proposal) => proposal,
                Loaded::Bad(entry) => {
                    listing.bad.push(entry);
                    continue;
                }
                Loaded::Missing => continue, // archived while we looked
            };
            let response = root
                .responses
                .get(id)
                .and_then(|path| match load(path, id) {
                    Loaded::Good(response) => Some(ResponseFile::Valid(response)),
                    Loaded::Bad(entry) => Some(ResponseFile::Bad(entry)),
                    Loaded::Missing => None,
                });
            if let Some(ResponseFile::Bad(entry)) = &response {
                listing.bad.push(entry.clone());
            }
            let state = if response.is_some() {
                EntryState::Answered
            } else {
                EntryState::Pending
            };
            listing.entries.push(Entry {
                queue: self.dir.clone(),
                state,
                proposal,
                response,
            });
        }
        for (id, path) in &root.responses {
            if root.proposals.contains_key(id) || processed.proposals.contains_key(id) {
                continue;
            }
            // An interrupted archive (proposal already in processed/) is
            // not an orphan.
            if !exists(&self.processed_proposal_path(id))? {
                listing
                    .bad
                    .push(report(path.clone(), BadReason::OrphanResponse));
            }
        }
        for (id, path) in &processed.proposals {
            let proposal = match load::<Proposal>(path, id) {
                Loaded::Good(proposal) => proposal,
                Loaded::Bad(entry) => {
                    listing.bad.push(entry);
                    continue;
                }
                Loaded::Missing => continue,
            };
            let response_path = processed
                .responses
                .get(id)
                .or_else(|| root.responses.get(id));
            let response = response_path.and_then(|path| match load(path, id) {
                Loaded::Good(response) => Some(ResponseFile::Valid(response)),
                Loaded::Bad(entry) => Some(ResponseFile::Bad(entry)),
                Loaded::Missing => None,
            });
            if let Some(ResponseFile::Bad(entry)) = &response {
                listing.bad.push(entry.clone());
            }
            listing.entries.push(Entry {
                queue: self.dir.clone(),
                state: EntryState::Processed,
                proposal,
                response,
            });
        }
        for (id, path) in &processed.responses {
            if !processed.proposals.contains_key(id) {
                listing
                    .bad
                    .push(report(path.clone(), BadReason::OrphanResponse));
            }
        }
        listing
            .entries
            .sort_by(|a, b| b.proposal.id.cmp(&a.proposal.id));
        listing.bad.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(listing)
    }

    /// Every id in the queue and in `processed/` that starts with `prefix`.
    pub fn ids_with_prefix(&self, prefix: &str) -> Result<Vec<ProposalId>, QueueError> {
        let root = scan(&self.dir, true)?;
        let processed = scan(&self.processed_dir(), false)?;
        let mut ids: Vec<ProposalId> = root
            .proposals
            .into_keys()
            .chain(processed.proposals.into_keys())
            .filter(|id| id.as_str().starts_with(prefix))
            .collect();
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    /// One proposal by exact id, pending, answered or processed.
    pub fn entry(&self, id: &ProposalId) -> Result<Entry, QueueError> {
        let (state_if_no_response, proposal) = match self.load_proposal(id) {
            Loaded::Good(proposal) => (EntryState::Pending, proposal),
            Loaded::Bad(entry) => return Err(QueueError::BadProposal(entry)),
            Loaded::Missing => match load(&self.processed_proposal_path(id), id) {
                Loaded::Good(proposal) => (EntryState::Processed, proposal),
                Loaded::Bad(entry) => return Err(QueueError::BadProposal(entry)),
                Loaded::Missing => {
                    return Err(QueueError::NotFound {
                        query: id.to_string(),
                        searched: vec![self.dir.clone()],
                    });
                }
            },
        };
        let mut response = None;
        for path in [self.response_path(id), self.processed_response_path(id)] {
            match load(&path, id) {
                Loaded::Good(found) => response = Some(ResponseFile::Valid(found)),
                Loaded::Bad(entry) => response = Some(ResponseFile::Bad(entry)),
                Loaded::Missing => continue,
            }
            break;
        }
        let state = match (state_if_no_response, &response) {
            (EntryState::Pending, Some(_)) => EntryState::Answered,
            (state, _) => state,
        };
        Ok(Entry {
            queue: self.dir.clone(),
            state,
            proposal,
            response,
        })
    }

    /// Remove temporary files older than `older_than` (left by writers that
    /// crashed between writing and renaming). Readers already ignore them.
    pub fn sweep_stale_temps(&self, older_than: Duration) -> Result<Vec<PathBuf>, QueueError> {
        let now = SystemTime::now();
        let mut removed = Vec::new();
        for path in scan(&self.dir, true)?.temps {
            let modified = match fs::metadata(&path).and_then(|meta| meta.modified()) {
                Ok(modified) => modified,
                Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
                Err(error) => return Err(QueueError::io("inspect", &path)(error)),
            };
            let age = now.duration_since(modified).unwrap_or_default();
            if age >= older_than {
                remove_if_present(&path)?;
                tracing::info!(path = %path.display(), "removed a stale temporary file");
                removed.push(path);
            }
        }
        Ok(removed)
    }

    /// After a restart, the acting sidecar's first call: finish archives a
    /// crash interrupted (those were acted on already), remove leftovers, and
    /// return what is answered but not yet acted on, and what is pending —
    /// only for the kinds `actor` owns.
    pub fn recover(&self, actor: Actor) -> Result<Recovery, QueueError> {
        let mut recovery = Recovery {
            removed_temps: self.sweep_stale_temps(STALE_TEMP_AGE)?,
            ..Recovery::default()
        };
        let root = scan(&self.dir, true)?;
        recovery.bad = root.bad;
        for (id, path) in &root.responses {
            if root.proposals.contains_key(id) {
                continue;
            }
            let archived = self.processed_proposal_path(id);
            let proposal = match load::<Proposal>(&archived, id) {
                Loaded::Good(proposal) => proposal,
                Loaded::Missing => {
                    recovery
                        .bad
                        .push(report(path.clone(), BadReason::OrphanResponse));
                    continue;
                }
                Loaded::Bad(entry) => {
                    recovery.bad.push(entry);
                    continue;
                }
            };
            if proposal.kind().actor() != actor {
                continue;
            }
            let archived_response = self.processed_response_path(id);
            if exists(&archived_response)? {
                self.move_response_no_clobber(path, &archived_response)?;
                recovery.removed_duplicates.push(path.clone());
            } else {
                self.move_response_no_clobber(path, &archived_response)?;
                tracing::info!(id = %id, "finished an interrupted archive");
                recovery.finished_archives.push(id.clone());
            }
        }
        for (id, path) in &root.proposals {
            let proposal = match load::<Proposal>(path, id) {
                Loaded::Good(proposal) => proposal,
                Loaded::Bad(entry) => {
                    recovery.bad.push(entry);
                    continue;
                }
                Loaded::Missing => continue,
            };
            if proposal.kind().actor() != actor {
                continue;
            }
            match root
                .responses
                .get(id)
                .map(|path| load::<Response>(path, id))
            {
                None | Some(Loaded::Missing) => recovery.pending.push(proposal),
                Some(Loaded::Bad(entry)) => recovery.bad.push(entry),
                Some(Loaded::Good(response)) => {
                    let problem = response.validate_for(&proposal).err();
                    recovery.answered.push(Answered {
                        proposal,
                        response,
                        problem,
                    });
                }
            }
        }
        Ok(recovery)
    }
}

/// The prefix rules for [`find`]: same characters as an id.
pub(crate) fn check_prefix(prefix: &str) -> Result<(), QueueError> {
    check_id_text(prefix).map_err(QueueError::from)
}

/// Find one proposal by id or unique id prefix across several queues.
pub fn find(queues: &[Queue], query: &str) -> Result<Entry, QueueError> {
    check_prefix(query)?;
    let mut matches: Vec<(&Queue, ProposalId)> = Vec::new();
    for queue in queues {
        for id in queue.ids_with_prefix(query)? {
            if id.as_str() == query {
                return queue.entry(&id);
            }
            matches.push((queue, id));
        }
    }
    match matches.as_slice() {
        [] => Err(QueueError::NotFound {
            query: query.to_string(),
            searched: queues.iter().map(|queue| queue.dir.clone()).collect(),
        }),
        [(queue, id)] => queue.entry(id),
        _ => Err(QueueError::Ambiguous {
            prefix: query.to_string(),
            matches: matches.into_iter().map(|(_, id)| id).collect(),
        }),
    }
}

/// List several queues as one: pending first, then answered, then processed,
/// newest first within each. A queue that cannot be read at all is reported
/// as a bad entry (its directory, and why), like a malformed file.
pub fn list_queues(queues: &[Queue], scope: Scope) -> Listing {
    let mut listing = Listing::default();
    for queue in queues {
        match queue.list(scope) {
            Ok(found) => {
                listing.entries.extend(found.entries);
                listing.bad.extend(found.bad);
            }
            Err(error) => {
                let mut message = error.to_string();
                let mut source = std::error::Error::source(&error);
                while let Some(cause) = source {
                    message.push_str(&format!(": {cause}"));
                    source = cause.source();
                }
                listing
                    .bad
                    .push(report(queue.dir.clone(), BadReason::Unreadable { message }));
            }
        }
    }
    listing.entries.sort_by(|a, b| {
        a.state
            .rank()
            .cmp(&b.state.rank())
            .then_with(|| b.proposal.id.cmp(&a.proposal.id))
    });
    listing
}
