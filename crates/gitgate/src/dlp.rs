//! The DLP engine (`bot_bottle_dlp::Scanner`) as the gate's
//! [`CommitScanner`]: the same detectors egress uses. Only blocking
//! findings hold a push; the warn-only entropy detector is logged by
//! nobody here and ignored.

use bot_bottle_dlp::{Location, Scanner, Severity};

use crate::scan::{CommitScanner, ContentFinding};

/// The DLP engine behind the scan seam.
#[derive(Debug, Clone)]
pub struct DlpScanner(pub Scanner);

impl CommitScanner for DlpScanner {
    fn scan(&self, content: &[u8]) -> Vec<ContentFinding> {
        self.0
            .scan(content)
            .into_vec()
            .into_iter()
            .filter(|finding| {
                finding.severity == Severity::Block && finding.location == Location::Data
            })
            .map(|finding| ContentFinding {
                rule: finding.rule,
                start: finding.start,
                end: finding.end,
                preview: finding.preview,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bot_bottle_dlp::ScannerConfig;

    #[test]
    fn finds_an_aws_key_with_offsets_and_a_masked_preview() {
        let scanner = DlpScanner(Scanner::new(ScannerConfig::default()).unwrap());
        let key = format!("AKIA{}", "QWERTYUIOPASDFGH");
        let content = format!("line one\naws_access_key_id = {key}\n");
        let findings = scanner.scan(content.as_bytes());
        assert!(!findings.is_empty(), "{findings:?}");
        let finding = &findings[0];
        assert_eq!(&content[finding.start..finding.end], key);
        assert!(!finding.preview.contains(&key));
    }
}
