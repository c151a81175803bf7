//! The DLP engine (`bot_bottle_dlp::Scanner`) as the gate's
//! [`CommitScanner`]: the same detectors egress uses. Only blocking
//! findings hold a push; the warn-only entropy detector is ignored. A repo's
//! own rules files add rules on top of the built-in ones (they cannot remove
//! or weaken them: allowlists are per rule, and a gitleaks global allowlist
//! applies only to the rules of its own file).

use std::sync::Arc;

use bot_bottle_dlp::{Location, RuleSet, Scanner, Severity};

use crate::receive::GITLEAKS_RULES_FILE;
use crate::scan::{CommitScanner, ContentFinding, REPO_RULES_FILE};

/// First line of the text given to [`CommitScanner::with_repo_rules`] when
/// it is a gitleaks config ([`GITLEAKS_RULES_FILE`]) rather than the
/// engine's rule format: the seam takes one text, and a TOML comment keeps
/// it a valid config.
const GITLEAKS_MARKER: &str = "# bot-bottle git-gate: the repo's gitleaks config follows\n";

/// `text`, a gitleaks config, marked for [`CommitScanner::with_repo_rules`].
pub(crate) fn gitleaks_rules_text(text: &str) -> String {
    format!("{GITLEAKS_MARKER}{text}")
}

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
        let set = match rules.strip_prefix(GITLEAKS_MARKER) {
            Some(gitleaks) => RuleSet::from_gitleaks_toml(gitleaks, GITLEAKS_RULES_FILE)
                .map(|import| import.rules),
            None => RuleSet::from_toml_str(rules, REPO_RULES_FILE),
        }
        .map_err(|error| error.to_string())?;
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

    #[test]
    fn marked_text_is_read_as_a_gitleaks_config() {
        let scanner = DlpScanner(Scanner::new(ScannerConfig::default()).unwrap());
        let config =
            "[[rules]]\nid = \"ticket\"\nregex = '''ITT-[0-9]{12}'''\nkeywords = [\"itt-\"]\n";
        let with = scanner
            .with_repo_rules(&gitleaks_rules_text(config))
            .unwrap()
            .unwrap();
        let findings = with.scan(b"token ITT-123456789012\n");
        assert!(
            findings
                .iter()
                .any(|finding| finding.rule == "gitleaks-ticket"),
            "{findings:?}"
        );
        // Unmarked, the same text is not the engine's format.
        let error = scanner.with_repo_rules(config).err().unwrap();
        assert!(error.contains("not a valid rule file"), "{error}");
    }
}
