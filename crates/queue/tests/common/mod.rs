//! Shared helpers for the queue's integration tests.
#![allow(dead_code, reason = "each test binary uses a different subset")]
#![allow(clippy::unwrap_used, reason = "test helpers panic on setup failure")]

use bot_bottle_manifest::model::Route;
use bot_bottle_queue::{
    CapabilityBlock, EgressAllow, EgressTokenAllow, GitleaksAllow, Payload, ProposalKind,
};

pub fn route(host: &str) -> Route {
    Route {
        host: host.to_string(),
        ..Route::default()
    }
}

pub fn payload(kind: ProposalKind) -> Payload {
    match kind {
        ProposalKind::EgressAllow => Payload::EgressAllow(EgressAllow {
            route: route("api.example.com"),
            reason: "read the docs".into(),
        }),
        ProposalKind::EgressBlock => Payload::EgressBlock(bot_bottle_queue::EgressBlock {
            host: "api.example.com".into(),
            route: None,
            reason: "done with it".into(),
        }),
        ProposalKind::EgressTokenAllow => Payload::EgressTokenAllow(EgressTokenAllow {
            host: "api.example.com".into(),
            method: "POST".into(),
            path: "/v1/upload".into(),
            detector: "patterns".into(),
            rule: "github-pat".into(),
            preview: "gh***9f(40 chars)".into(),
            context: "token=[REDACTED]".into(),
        }),
        ProposalKind::GitleaksAllow => Payload::GitleaksAllow(GitleaksAllow {
            repo: "app".into(),
            reference: "refs/heads/agent/x".into(),
            commit: "0123abcd".into(),
            file: "settings.py".into(),
            line: 7,
            rule: "aws-access-key".into(),
            snippet: "KEY = \"[REDACTED]\"".into(),
        }),
        ProposalKind::CapabilityBlock => Payload::CapabilityBlock(CapabilityBlock {
            text: "I need docker to run the tests".into(),
        }),
    }
}

/// The names of the files directly in `dir` (not temp files unless asked).
pub fn names(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(reader) => reader
            .map(|item| item.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}
