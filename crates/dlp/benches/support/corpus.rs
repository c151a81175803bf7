//! The benchmark's generated corpus and held secrets, shared by
//! `benches/scan.rs` and `examples/profile_scan.rs` (a driver for
//! instruction-counting profilers such as callgrind).

use bot_bottle_dlp::HeldSecret;

/// Size of the generated corpus in bytes (about).
const CORPUS_SIZE: usize = 4 * 1024 * 1024;

/// Number of held secrets.
const HELD_SECRETS: usize = 50;

/// A tiny deterministic generator (xorshift64*), so runs are comparable.
pub struct Random(pub u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }

    fn string(&mut self, alphabet: &[u8], len: usize) -> String {
        (0..len)
            .map(|_| alphabet[self.below(alphabet.len())] as char)
            .collect()
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const HEX: &[u8] = b"0123456789abcdef";

pub fn held_secrets(random: &mut Random) -> Vec<HeldSecret> {
    (0..HELD_SECRETS)
        .map(|index| {
            let value = match index % 5 {
                0 => format!("ghp_{}", random.string(ALNUM, 36)),
                1 => format!("sk-ant-api03-{}AA", random.string(ALNUM, 93)),
                2 => random.string(HEX, 40),
                3 => format!(
                    "xoxb-{}-{}",
                    random.string(b"0123456789", 12),
                    random.string(ALNUM, 24)
                ),
                _ => random.string(ALNUM, 43),
            };
            HeldSecret::new(format!("EGRESS_TOKEN_{index}"), value)
        })
        .collect()
}

fn json_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for character in text.chars() {
        match character {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            other => out.push(other),
        }
    }
    out
}

/// Source code carried by the requests: the engine's own sources as of the
/// first benchmark (copied, so that editing the engine does not change the
/// corpus and figures stay comparable across commits).
const CODE: &[&str] = &[
    include_str!("code/known.rs.txt"),
    include_str!("code/scanner.rs.txt"),
    include_str!("code/decode.rs.txt"),
    include_str!("code/rules.rs.txt"),
];

fn log_lines(random: &mut Random, lines: usize) -> String {
    let mut out = String::new();
    for _ in 0..lines {
        out.push_str(&format!(
            "2026-11-28T10:{:02}:{:02}.{:03}Z INFO egress request id={} method=POST host=api.example.com path=/v1/messages status={} duration_ms={} bytes={}\n",
            random.below(60),
            random.below(60),
            random.below(1000),
            random.string(HEX, 16),
            [200, 200, 200, 404, 429][random.below(5)],
            random.below(3000),
            random.below(1_000_000),
        ));
    }
    out
}

pub fn corpus(random: &mut Random) -> Vec<u8> {
    use base64::Engine;
    let engine = base64::engine::general_purpose::STANDARD;
    let mut out = Vec::with_capacity(CORPUS_SIZE + 1024 * 1024);
    let mut turn = 0;
    while out.len() < CORPUS_SIZE {
        let code = json_escape(CODE[turn % CODE.len()]);
        let logs = json_escape(&log_lines(random, 40));
        let attachment = if turn % 3 == 0 {
            format!(
                r#",{{"type":"image","source":{{"type":"base64","media_type":"image/png","data":"{}"}}}}"#,
                engine.encode(random.bytes(48 * 1024))
            )
        } else {
            String::new()
        };
        let request = format!(
            r#"{{"model":"claude-sonnet-4-5","max_tokens":8192,"stream":true,"system":[{{"type":"text","text":"You are a coding agent. Work in /workspace."}}],"messages":[{{"role":"user","content":[{{"type":"text","text":"Please fix the failing test in this file:\n{code}"}}{attachment}]}},{{"role":"assistant","content":[{{"type":"tool_use","id":"toolu_{}","name":"Bash","input":{{"command":"cargo test 2>&1 | tail -50"}}}}]}},{{"role":"user","content":[{{"type":"tool_result","tool_use_id":"toolu_{}","content":"{logs}"}}]}}]}}"#,
            random.string(ALNUM, 24),
            random.string(ALNUM, 24),
        );
        out.extend_from_slice(request.as_bytes());
        out.push(b'\n');
        turn += 1;
    }
    out
}
