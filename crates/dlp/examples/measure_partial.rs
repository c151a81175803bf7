//! Measures the false-positive rate of the sliding-window (partial match)
//! pass for several window lengths on the benign corpus, with 50 held
//! secrets shaped like real tokens. The figures chose
//! `PARTIAL_MATCH_MIN_LEN`; `docs/dlp.md` records them.
//!
//! Run: `cargo run --release -p bot-bottle-dlp --example measure_partial`.

#[path = "../tests/support/corpus.rs"]
mod corpus;
#[path = "../tests/support/secrets.rs"]
#[allow(dead_code, reason = "shared with the tests, which use other parts")]
mod secrets;

/// Held secrets in the measurement.
const SECRETS: usize = 1000;

fn main() {
    let corpus = corpus::gather();
    // 1000 secrets (20 times the bench's 50) so that rare collisions show.
    let held = secrets::held_secrets_from(0x5EED_0000_0000_0001, SECRETS);
    println!(
        "benign corpus: {} bytes in {} files",
        corpus.total,
        corpus.files.len()
    );
    for line in &corpus.looked {
        println!("  {line}");
    }
    println!("{SECRETS} held secrets; findings per MB of corpus per held secret:");
    println!("window  findings  files  per MB per secret");
    for window in [8, 9, 10, 11, 12, 14, 16] {
        let matcher = match bot_bottle_dlp::fuzzing::WindowMatcher::new(&held, window) {
            Ok(matcher) => matcher,
            Err(error) => {
                eprintln!("cannot build the matcher: {error}");
                std::process::exit(2);
            }
        };
        let mut findings = 0usize;
        let mut files = 0usize;
        for (_, bytes) in &corpus.files {
            let found = matcher.scan(bytes);
            findings += found.len();
            files += usize::from(!found.is_empty());
        }
        let per_megabyte =
            findings as f64 / (corpus.total as f64 / (1024.0 * 1024.0)) / SECRETS as f64;
        println!("{window:>6}  {findings:>8}  {files:>5}  {per_megabyte:.2e}");
    }
}
