//! Every parser of untrusted or semi-trusted input takes any bytes without
//! panicking: CGI headers from http-backend, the hook's request, the git://
//! request line, the `git log` stream and quoted paths.

use bot_bottle_gitgate::{cgi, daemon, hook, scan};
use proptest::prelude::*;

proptest! {
    #[test]
    fn cgi_headers_never_panic(block in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = cgi::header_end(&block);
        let _ = cgi::parse_head(&block);
    }

    #[test]
    fn cgi_status_lines_are_a_status_or_an_error(status in ".{0,12}") {
        let block = format!("Status: {status}\r\n");
        if let Ok(head) = cgi::parse_head(block.as_bytes()) {
            prop_assert!((100..=999).contains(&head.status.as_u16()));
        }
    }

    #[test]
    fn hook_requests_never_panic(text in ".{0,400}") {
        let _ = hook::parse_request(&text);
    }

    #[test]
    fn daemon_requests_never_panic(payload in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = daemon::parse_request(&payload);
    }

    #[test]
    fn log_streams_and_paths_never_panic(log in proptest::collection::vec(any::<u8>(), 0..1024), offset in 0usize..2048) {
        let whole: Vec<String> = scan::split_log(&log).into_iter().map(|chunk| chunk.commit).collect();
        // Read as it comes, in pieces, the stream splits as it does whole.
        prop_assert_eq!(scan::LogSplitter::split_in_pieces(&log, 1), whole.clone());
        prop_assert_eq!(scan::LogSplitter::split_in_pieces(&log, 7), whole);
        let _ = scan::unquote_path(&String::from_utf8_lossy(&log));
        let _ = scan::line_number(&log, offset);
    }

    #[test]
    fn snippets_never_show_the_match(prefix in "[a-z =]{0,40}", secret in "[A-Z0-9]{20}", suffix in "[a-z =]{0,40}") {
        let content = format!("{prefix}{secret}{suffix}");
        let finding = scan::ContentFinding {
            rule: "r".into(),
            start: prefix.len(),
            end: prefix.len() + secret.len(),
            preview: "[masked]".into(),
        };
        let snippet = scan::snippet(content.as_bytes(), &finding, std::slice::from_ref(&finding));
        prop_assert!(!snippet.contains(&secret));
    }
}
