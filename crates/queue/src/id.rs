//! Proposal ids: sortable by time, unique across processes, safe as file names.
//!
//! An id is `<UTC time>-<pid>-<counter>-<random>`, every part fixed width:
//! `20261128T102700123Z-00003f2a-000001-9c1e77d0` (44 characters). The time
//! part makes ids (and so file names) sort by creation; within one process a
//! counter and a clock that never runs backwards keep them strictly
//! increasing; the process id separates concurrent writers on one host, and
//! 32 random bits separate writers in different containers that share a pid.
//!
//! Ids read back from disk or typed by an operator are checked to be only
//! ASCII letters, digits, `-` and `_`, so an id can never name a path outside
//! its queue.

use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::time::Timestamp;

/// The longest id accepted from a file name or a command line.
pub const MAX_ID_LENGTH: usize = 64;

/// The last time part handed out by this process (never decreases).
static LAST_MILLIS: AtomicI64 = AtomicI64::new(0);
/// Per-process sequence number (wraps at 2^24, far beyond one millisecond's worth).
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The id of one proposal (and of its response).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProposalId(String);

/// Text that is not a well-formed proposal id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid proposal id {text:?}: {reason}")]
pub struct InvalidId {
    pub text: String,
    pub reason: &'static str,
}

impl ProposalId {
    /// A fresh id for a new proposal.
    pub fn generate() -> Self {
        let now = Timestamp::now().as_millis();
        let previous = LAST_MILLIS.fetch_max(now, Ordering::SeqCst);
        let millis = previous.max(now);
        let counter = COUNTER.fetch_add(1, Ordering::SeqCst) & 0x00ff_ffff;
        let random: u32 = rand::random();
        Self(format!(
            "{}-{:08x}-{counter:06x}-{random:08x}",
            Timestamp::from_millis(millis).compact(),
            std::process::id(),
        ))
    }

    /// Check text (a file name stem or an operator's argument) as an id.
    pub fn parse(text: &str) -> Result<Self, InvalidId> {
        check_id_text(text)?;
        Ok(Self(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The rules shared by full ids and the prefixes an operator types.
pub(crate) fn check_id_text(text: &str) -> Result<(), InvalidId> {
    let invalid = |reason| InvalidId {
        text: text.to_string(),
        reason,
    };
    if text.is_empty() {
        return Err(invalid("empty"));
    }
    if text.len() > MAX_ID_LENGTH {
        return Err(invalid("longer than 64 characters"));
    }
    if !text
        .bytes()
        .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
    {
        return Err(invalid(
            "only ASCII letters, digits, '-' and '_' are allowed",
        ));
    }
    Ok(())
}

impl fmt::Display for ProposalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for ProposalId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ProposalId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn generated_ids_have_the_documented_shape() {
        let id = ProposalId::generate();
        let parts: Vec<&str> = id.as_str().split('-').collect();
        assert_eq!(id.as_str().len(), 44, "{id}");
        assert_eq!(parts.len(), 4, "{id}");
        assert_eq!(parts[0].len(), 19);
        assert_eq!(
            parts[1],
            format!("{:08x}", std::process::id()),
            "pid part of {id}"
        );
        assert_eq!(ProposalId::parse(id.as_str()), Ok(id));
    }

    #[test]
    fn ids_from_many_threads_are_unique_and_increase_per_thread() {
        let threads: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(|| {
                    (0..5_000)
                        .map(|_| ProposalId::generate())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all = HashSet::new();
        for thread in threads {
            let ids = thread.join().unwrap();
            assert!(ids.windows(2).all(|pair| pair[0] < pair[1]));
            for id in ids {
                assert!(all.insert(id.clone()), "duplicate id {id}");
            }
        }
        assert_eq!(all.len(), 20_000);
    }

    #[test]
    fn parse_refuses_path_tricks_and_junk() {
        for text in [
            "",
            "../etc/passwd",
            "a/b",
            "a.b",
            "with space",
            "é",
            &"x".repeat(65),
        ] {
            assert!(ProposalId::parse(text).is_err(), "{text:?} accepted");
        }
        assert!(ProposalId::parse("20261128T102700123Z-abc_DEF-1").is_ok());
    }
}
