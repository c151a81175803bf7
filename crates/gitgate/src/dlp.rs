//! The DLP engine (`bot_bottle_dlp::Scanner`) as the gate's
//! [`CommitScanner`]: the same detectors egress uses. Only blocking
//! findings hold a push; the warn-only entropy detector is ignored. A repo's
//! own rules file adds rules on top of the built-in ones (it cannot remove
//! or weaken them: allowlists are per rule).

use std::sync::Arc;

use bot_bottle_dlp::{Location, RuleSet, Scanner, Severity};

use crate::scan::{CommitScanner, ContentFinding, REPO_RULES_FILE};

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

    fn with_repo_rules(&self, rules: &str) -> Result<Option<Arc<dyn CommitScanner>>, String> {
        let set =
            RuleSet::from_toml_str(rules, REPO_RULES_FILE).map_err(|error| error.to_string())?;
        let mut config = self.0.config().clone();
        config.extra_rules.push(set);
        let scanner = Scanner::new(config).map_err(|error| error.to_string())?;
        Ok(Some(Arc::new(Self(scanner))))
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
