//! Held secrets shaped like the tokens a sidecar holds, from a fixed seed:
//! GitHub, Anthropic, hex, Slack, URL-safe random (the canary) and UUIDs.

use bot_bottle_dlp::HeldSecret;

/// Held secrets shaped like the tokens a sidecar holds, from a fixed seed.
pub fn held_secrets() -> Vec<HeldSecret> {
    held_secrets_from(0x0DDB_A11C_0FFE_E000, 50)
}

/// `count` held secrets drawn from `seed`.
pub fn held_secrets_from(seed: u64, count: usize) -> Vec<HeldSecret> {
    let mut state: u64 = seed;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let alnum = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let urlsafe = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let hex = b"0123456789abcdef";
    let mut draw = |alphabet: &[u8], len: usize| -> String {
        (0..len)
            .map(|_| alphabet[(next() % alphabet.len() as u64) as usize] as char)
            .collect()
    };
    (0..count)
        .map(|index| {
            let value = match index % 6 {
                0 => format!("ghp_{}", draw(alnum, 36)),
                1 => format!("sk-ant-api03-{}AA", draw(urlsafe, 93)),
                2 => draw(hex, 40),
                3 => format!("xoxb-{}-{}", draw(b"0123456789", 12), draw(alnum, 24)),
                4 => draw(urlsafe, 43),
                _ => {
                    let uuid = draw(hex, 32);
                    format!(
                        "{}-{}-{}-{}-{}",
                        &uuid[..8],
                        &uuid[8..12],
                        &uuid[12..16],
                        &uuid[16..20],
                        &uuid[20..]
                    )
                }
            };
            HeldSecret::new(format!("EGRESS_TOKEN_{index}"), value)
        })
        .collect()
}
