//! The memory bound on the git processes that receive a push, and on
//! those that take in what upstream sends (the mirror's fetches,
//! `git ls-remote`: [`crate::mirror`], [`crate::git::Invocation::memory_bound`]).
//!
//! A pack's size says little about the memory git needs to take it in: a
//! delta is a list of "copy this range of the base" instructions, so a
//! 16 KB pack holding a 16 MiB zero blob and one delta copying it 64 times
//! made the gate's `unpack-objects` (or `index-pack`, one thread per such
//! delta) allocate the 1 GiB result before anything looked at it; the
//! scan's [`MAX_SCANNED_BLOB_BYTES`] refused the push only afterwards, in
//! the hook. `receive.maxInputSize` counts compressed pack bytes, and
//! `core.bigFileThreshold` streams only whole (non-delta) blobs: a
//! delta's result is always built in memory.
//!
//! So every `git http-backend` run answering a push (`POST
//! …/git-receive-pack`) starts with `RLIMIT_DATA` at
//! [`ReceiveMemory::data_bytes`] (default
//! [`MAX_RECEIVE_PACK_DATA_BYTES`]), inherited by receive-pack and
//! everything it starts (`unpack-objects`, `index-pack`, the connectivity
//! walk, the hook). Since Linux 4.7 `RLIMIT_DATA` counts a process's
//! private writable mappings — its heap, `malloc`'s mmaps, thread stacks —
//! and not git's read-only mmaps of packs (which `RLIMIT_AS` would, so a
//! big mirror's packs would count against it). It is set by `sh`'s
//! `ulimit -d` before `exec git http-backend` (the workspace forbids the
//! `unsafe` a `pre_exec` needs), so it is in place before git runs. A
//! limit that cannot be set fails the push (no output from the CGI run: an
//! HTTP 500, the shell's error logged). Fetches and clones
//! (`upload-pack`) are not bounded: what they send is the mirror's, which
//! only bounded pushes and the bounded fetches from upstream fill. A
//! fetch from upstream gets the same limit and `pack.threads` (set by
//! `sh -c 'ulimit -d "$1" && shift && exec "$@"'` and `git -c`); one that
//! runs out of it fails, and the mirror's refresh with it.
//!
//! `index-pack` resolves deltas on threads that grow with the cores (up to
//! 20), each holding a delta's base and result: the receiving run gets
//! `pack.threads` = [`RECEIVE_PACK_THREADS`], so what a legitimate push
//! needs does not grow with the host's cores.
//!
//! git dies on a failed allocation with `fatal: Out of memory, malloc
//! failed (tried to allocate N bytes)`, which receive-pack sends the
//! client on side band 2 before its report (`unpack … abnormal exit`). The
//! gate runs git with no locale variables, so the text is git's English
//! one: [`OutOfMemoryWatch`] follows the answer's pkt-lines, and after
//! that message adds the gate's own ([`refusal_message`]), which the
//! agent's `git push` prints as `remote: git-gate: push refused: …`, and
//! logs it. Whether or not the message is recognised, the push has
//! failed: receive-pack refuses every command when its unpack fails, and
//! no hook runs.

use crate::scan::MAX_SCANNED_BLOB_BYTES;

/// The most private writable memory (`RLIMIT_DATA`) each git process
/// receiving a push (or fetching from upstream) may take: enough for a file just under
/// [`MAX_SCANNED_BLOB_BYTES`] delta'd against another (its base and its
/// result on each of [`RECEIVE_PACK_THREADS`] threads, plus `index-pack`'s
/// 96 MiB delta base cache), far from the gigabytes a delta bomb asks for.
pub const MAX_RECEIVE_PACK_DATA_BYTES: u64 = 512 * 1024 * 1024;

/// `pack.threads` for the `index-pack` of a push or of a fetch from
/// upstream.
pub const RECEIVE_PACK_THREADS: u32 = 2;

/// What git prints when an allocation fails (`wrapper.c`).
pub const GIT_OUT_OF_MEMORY: &[u8] = b"Out of memory, malloc failed";

/// The memory bound of the git processes receiving a push or fetching
/// from upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiveMemory {
    /// `RLIMIT_DATA` of each of them, in bytes (rounded up to KiB).
    pub data_bytes: u64,
    /// `pack.threads` of their `index-pack`.
    pub threads: u32,
}

impl Default for ReceiveMemory {
    fn default() -> Self {
        Self {
            data_bytes: MAX_RECEIVE_PACK_DATA_BYTES,
            threads: RECEIVE_PACK_THREADS,
        }
    }
}

impl ReceiveMemory {
    /// The limit as `ulimit -d` takes it: KiB, rounded up, at least 1.
    pub fn ulimit_kib(&self) -> u64 {
        self.data_bytes.div_ceil(1024).max(1)
    }
}

/// What the agent's `git push` prints (after `remote: `) when git ran out
/// of the memory the gate lets it take.
pub fn refusal_message(limit: &ReceiveMemory) -> String {
    format!(
        "git-gate: push refused: receiving it needed more than the {} bytes of memory the gate lets git take (a delta whose result is that large?); no file over {} bytes can be pushed through the gate",
        limit.data_bytes, MAX_SCANNED_BLOB_BYTES
    )
}

/// The longest pkt-line (`ffff`, 65,535 bytes with its length).
const MAX_PKT_BYTES: usize = 0xffff;

/// Follows a receive-pack answer's pkt-lines as they are relayed and adds
/// the gate's message after git's out-of-memory one on side band 2.
///
/// Only whole pkt-lines are passed on (the rest waits for the next piece),
/// so the added line never lands inside one of git's. Anything that is
/// not a pkt-line stream (a length that is not hex) turns the watch off
/// and is passed on as it is.
#[derive(Debug)]
pub struct OutOfMemoryWatch {
    message: String,
    pending: Vec<u8>,
    passthrough: bool,
    seen: bool,
}

impl OutOfMemoryWatch {
    pub fn new(limit: &ReceiveMemory) -> Self {
        Self {
            message: refusal_message(limit),
            pending: Vec::new(),
            passthrough: false,
            seen: false,
        }
    }

    /// Whether git's out-of-memory message went by.
    pub fn seen(&self) -> bool {
        self.seen
    }

    /// Take the next piece of git's answer; returns what to send on.
    pub fn relay(&mut self, piece: &[u8]) -> Vec<u8> {
        if self.passthrough {
            return piece.to_vec();
        }
        self.pending.extend_from_slice(piece);
        let mut out = Vec::with_capacity(self.pending.len());
        let mut at = 0;
        while let Some(header) = self.pending.get(at..at + 4) {
            let Some(length) = std::str::from_utf8(header)
                .ok()
                .and_then(|text| usize::from_str_radix(text, 16).ok())
            else {
                self.passthrough = true;
                out.extend_from_slice(&self.pending[at..]);
                self.pending.clear();
                return out;
            };
            // 0000 flush, 0001 delimiter, 0002 response end: no payload.
            let length = if length < 4 { 4 } else { length };
            let Some(line) = self.pending.get(at..at + length) else {
                break;
            };
            out.extend_from_slice(line);
            at += length;
            let payload = &line[4..];
            if !self.seen
                && payload.first() == Some(&2)
                && memchr::memmem::find(payload, GIT_OUT_OF_MEMORY).is_some()
            {
                self.seen = true;
                let mut added = vec![2u8];
                added.extend_from_slice(self.message.as_bytes());
                added.push(b'\n');
                added.truncate(MAX_PKT_BYTES - 4);
                out.extend_from_slice(format!("{:04x}", added.len() + 4).as_bytes());
                out.extend_from_slice(&added);
            }
        }
        self.pending.drain(..at);
        out
    }

    /// What is left at the end of the answer (a cut pkt-line), as it is.
    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(payload: &[u8]) -> Vec<u8> {
        let mut out = format!("{:04x}", payload.len() + 4).into_bytes();
        out.extend_from_slice(payload);
        out
    }

    fn answer() -> Vec<u8> {
        let mut answer = pkt(b"\x02Resolving deltas:   0% (0/2)\r");
        answer.extend(pkt(
            b"\x02fatal: Out of memory, malloc failed (tried to allocate 1073741825 bytes)\n",
        ));
        let mut report = pkt(b"unpack unpack-objects abnormal exit\n");
        report.extend(pkt(b"ng refs/heads/bomb unpacker error\n"));
        report.extend_from_slice(b"0000");
        let mut band = vec![1u8];
        band.extend(report);
        answer.extend(pkt(&band));
        answer.extend_from_slice(b"0000");
        answer
    }

    #[test]
    fn the_message_follows_gits_in_any_split() {
        let limit = ReceiveMemory {
            data_bytes: 1 << 20,
            threads: 1,
        };
        let answer = answer();
        let whole = {
            let mut watch = OutOfMemoryWatch::new(&limit);
            let mut out = watch.relay(&answer);
            out.extend(watch.finish());
            assert!(watch.seen());
            out
        };
        let text = String::from_utf8_lossy(&whole);
        let ours =
            text.find("git-gate: push refused: receiving it needed more than the 1048576 bytes");
        let gits = text.find("Out of memory");
        let report = text.find("unpack unpack-objects");
        assert!(gits < ours && ours < report, "{text}");
        for size in 1..answer.len() {
            let mut watch = OutOfMemoryWatch::new(&limit);
            let mut out = Vec::new();
            for piece in answer.chunks(size) {
                out.extend(watch.relay(piece));
            }
            out.extend(watch.finish());
            assert_eq!(out, whole, "pieces of {size}");
        }
    }

    #[test]
    fn other_answers_pass_unchanged() {
        let limit = ReceiveMemory::default();
        let mut plain = pkt(b"\x010030unpack ok\n0019ok refs/heads/main\n0000");
        plain.extend_from_slice(b"0000");
        let not_pkt = b"Status: 500\r\n\r\nzzzz nothing".to_vec();
        let cut = pkt(b"\x02fatal: something else\n")[..9].to_vec();
        for answer in [plain, not_pkt, cut] {
            let mut watch = OutOfMemoryWatch::new(&limit);
            let mut out = watch.relay(&answer);
            out.extend(watch.finish());
            assert_eq!(out, answer);
            assert!(!watch.seen());
        }
    }

    #[test]
    fn the_ulimit_is_in_kib_rounded_up() {
        let kib = |data_bytes| {
            ReceiveMemory {
                data_bytes,
                threads: 1,
            }
            .ulimit_kib()
        };
        assert_eq!(kib(0), 1);
        assert_eq!(kib(1), 1);
        assert_eq!(kib(1024), 1);
        assert_eq!(kib(1025), 2);
        assert_eq!(kib(MAX_RECEIVE_PACK_DATA_BYTES), 512 * 1024);
    }
}
