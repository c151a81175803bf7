//! The DLP engine (`bot_bottle_dlp::Scanner`) as the gate's
//! [`CommitScanner`]: the same detectors egress uses. Only blocking
//! findings hold a push; the warn-only entropy detector is ignored. A repo's
//! own rules files add rules on top of the built-in ones (they cannot remove
//! or weaken them: allowlists are per rule, and a gitleaks global allowlist
//! applies only to the rules of its own file).

use std::sync::Arc;

use bot_bottle_dlp::{Location, RuleSet, Scanner, Severity};

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

    fn file_name_findings(&self, path: &str) -> Vec<(String, String)> {
        self.0
            .file_name_rules()
            .filter(|rule| rule.matches(path.as_bytes()))
            .map(|rule| (rule.id().to_string(), rule.description().to_string()))
            .collect()
    }

    fn with_rules(&self, rules: RuleSet) -> Result<Option<Arc<dyn CommitScanner>>, String> {
        let mut config = self.0.config().clone();
        config.extra_rules.push(rules);
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
    fn added_rules_find_what_the_built_in_ones_do_not() {
        let scanner = DlpScanner(Scanner::new(ScannerConfig::default()).unwrap());
        let config =
            "[[rules]]\nid = \"ticket\"\nregex = '''ITT-[0-9]{12}'''\nkeywords = [\"itt-\"]\n";
        let content = b"token ITT-123456789012\n";
        assert!(scanner.scan(content).is_empty());
        let import = RuleSet::from_gitleaks_toml(config, ".gitleaks.toml").unwrap();
        let with = scanner.with_rules(import.rules).unwrap().unwrap();
        let findings = with.scan(content);
        assert!(
            findings
                .iter()
                .any(|finding| finding.rule == "gitleaks-ticket"),
            "{findings:?}"
        );
    }
}
