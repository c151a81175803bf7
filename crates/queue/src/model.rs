//! What a proposal and a response say: the five kinds, their payloads, the
//! operator's decision, and the rules tying them together.
//!
//! The rules of each kind — who acts on it, whether it is report-only,
//! whether approving needs a reason, whether the operator may modify what is
//! granted, whether it is answered in words — are methods on
//! [`ProposalKind`], and [`Response::new`] refuses a decision that breaks
//! them. A UI asks the kind what to offer; it never decides.
//!
//! Nothing here ever holds a secret: the sidecar that files an
//! `egress-token-allow` or `gitleaks-allow` proposal writes only a masked
//! preview and a redacted context (see `bot_bottle_secret::masked_preview`).

use std::fmt;

use bot_bottle_manifest::model::Route;
use serde::{Deserialize, Serialize};

use crate::id::ProposalId;
use crate::time::Timestamp;

/// The version of the file format written by this crate. A file with any
/// other version is reported as a bad entry, never guessed at.
pub const SCHEMA_VERSION: u32 = 1;

/// The five kinds of proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProposalKind {
    /// Add or widen an egress route (filed by the supervise MCP server).
    EgressAllow,
    /// Remove or narrow an egress route (filed by the supervise MCP server).
    EgressBlock,
    /// A held request carried a token-shaped value (filed by egress).
    EgressTokenAllow,
    /// A push carried a secret-shaped value (filed by git-gate).
    GitleaksAllow,
    /// The agent says in words what it is stuck on (filed by supervise).
    CapabilityBlock,
}

/// The sidecar that files a kind of proposal, acts on its response and
/// archives both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Actor {
    Egress,
    GitGate,
    Supervise,
}

impl ProposalKind {
    /// Every kind, in a stable order.
    pub const ALL: [Self; 5] = [
        Self::EgressAllow,
        Self::EgressBlock,
        Self::EgressTokenAllow,
        Self::GitleaksAllow,
        Self::CapabilityBlock,
    ];

    /// The name used in files and on the command line.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::EgressAllow => "egress-allow",
            Self::EgressBlock => "egress-block",
            Self::EgressTokenAllow => "egress-token-allow",
            Self::GitleaksAllow => "gitleaks-allow",
            Self::CapabilityBlock => "capability-block",
        }
    }

    /// Who files, acts on and archives proposals of this kind.
    pub const fn actor(self) -> Actor {
        match self {
            Self::EgressAllow | Self::EgressBlock | Self::CapabilityBlock => Actor::Supervise,
            Self::EgressTokenAllow => Actor::Egress,
            Self::GitleaksAllow => Actor::GitGate,
        }
    }

    /// A report of something a detector caught: the operator can let it
    /// through once, but cannot change what is granted.
    pub const fn is_report_only(self) -> bool {
        matches!(self, Self::EgressTokenAllow | Self::GitleaksAllow)
    }

    /// Approving needs a recorded reason (the report-only kinds: letting a
    /// possible secret out is a decision someone must be able to explain).
    pub const fn requires_reason_to_approve(self) -> bool {
        self.is_report_only()
    }

    /// The operator may grant a different route than the one asked for.
    pub const fn allows_modify(self) -> bool {
        matches!(self, Self::EgressAllow | Self::EgressBlock)
    }

    /// Answered in words (`answer --text`), not approved.
    pub const fn takes_text_answer(self) -> bool {
        matches!(self, Self::CapabilityBlock)
    }

    /// Whether an operator may answer this kind with `decision`.
    pub const fn allows(self, decision: DecisionKind) -> bool {
        match decision {
            DecisionKind::Approve => !self.takes_text_answer(),
            DecisionKind::ApproveWithModification => self.allows_modify(),
            DecisionKind::Reject => true,
            DecisionKind::Answer => self.takes_text_answer(),
            // Only the acting sidecar expires a proposal (see `Queue::expire`).
            DecisionKind::Expired => false,
        }
    }
}

impl fmt::Display for ProposalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Egress => "egress",
            Self::GitGate => "git-gate",
            Self::Supervise => "supervise",
        })
    }
}

/// `egress-allow`: the agent asks for a route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EgressAllow {
    /// The route asked for.
    pub route: Route,
    /// Why the agent needs it, in its own words.
    pub reason: String,
}

/// `egress-block`: the agent asks to drop or narrow a route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EgressBlock {
    /// The host whose route is dropped or narrowed.
    pub host: String,
    /// The narrowed route that should remain; absent means drop the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<Route>,
    pub reason: String,
}

/// `egress-token-allow`: egress held a request carrying a token-shaped value.
/// Never the value itself: only its masked preview and a redacted context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EgressTokenAllow {
    pub host: String,
    pub method: String,
    /// The request path, with any match in it redacted.
    pub path: String,
    /// The detector that matched (`known`, `patterns`, …).
    pub detector: String,
    /// The rule within the detector (`github-pat`, `EGRESS_TOKEN_FORGE`, …).
    pub rule: String,
    /// `masked_preview` of the matched value (`gh***9f(40 chars)`).
    pub preview: String,
    /// The text around the match with the match replaced.
    pub context: String,
}

/// `gitleaks-allow`: git-gate held a push whose new commits carry a finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitleaksAllow {
    pub repo: String,
    /// The ref being pushed (`refs/heads/agent/x`).
    #[serde(rename = "ref")]
    pub reference: String,
    pub commit: String,
    pub file: String,
    pub line: u64,
    pub rule: String,
    /// The line with the match replaced.
    pub snippet: String,
}

/// `capability-block`: the agent says what it is stuck on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapabilityBlock {
    pub text: String,
}

/// What a proposal asks, by kind (the JSON field `kind`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Payload {
    EgressAllow(EgressAllow),
    EgressBlock(EgressBlock),
    EgressTokenAllow(EgressTokenAllow),
    GitleaksAllow(GitleaksAllow),
    CapabilityBlock(CapabilityBlock),
}

impl Payload {
    pub const fn kind(&self) -> ProposalKind {
        match self {
            Self::EgressAllow(_) => ProposalKind::EgressAllow,
            Self::EgressBlock(_) => ProposalKind::EgressBlock,
            Self::EgressTokenAllow(_) => ProposalKind::EgressTokenAllow,
            Self::GitleaksAllow(_) => ProposalKind::GitleaksAllow,
            Self::CapabilityBlock(_) => ProposalKind::CapabilityBlock,
        }
    }

    /// One line for listings: what is asked, without the details.
    pub fn summary(&self) -> String {
        match self {
            Self::EgressAllow(ask) => format!("allow {}", describe_route(&ask.route)),
            Self::EgressBlock(ask) => match &ask.route {
                Some(route) => format!("narrow {} to {}", ask.host, describe_route(route)),
                None => format!("drop {}", ask.host),
            },
            Self::EgressTokenAllow(report) => format!(
                "{} {}{}: {} {}",
                report.method, report.host, report.path, report.detector, report.rule
            ),
            Self::GitleaksAllow(report) => format!(
                "{} {} {}:{}: {}",
                report.repo, report.reference, report.file, report.line, report.rule
            ),
            Self::CapabilityBlock(block) => {
                let mut lines = block.text.lines();
                let first = lines.next().unwrap_or("").to_string();
                if lines.next().is_some() {
                    format!("{first} …")
                } else {
                    first
                }
            }
        }
    }
}

/// `host [METHODS] [paths]` — a route in a few words.
pub fn describe_route(route: &Route) -> String {
    let mut text = route.host.clone();
    if let Some(methods) = &route.methods {
        text.push_str(&format!(" [{}]", methods.join(",")));
    }
    if let Some(paths) = &route.paths {
        text.push_str(&format!(" {}", paths.join(",")));
    }
    text
}

/// One proposal file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    pub schema_version: u32,
    pub id: ProposalId,
    /// The bottle whose sidecar filed it.
    pub bottle: String,
    pub created_at: Timestamp,
    #[serde(flatten)]
    pub payload: Payload,
}

impl Proposal {
    /// A new proposal with a fresh id, stamped now.
    pub fn new(bottle: impl Into<String>, payload: Payload) -> Self {
        Self {
            schema_version: SCHEMA_VERSION,
            id: ProposalId::generate(),
            bottle: bottle.into(),
            created_at: Timestamp::now(),
            payload,
        }
    }

    pub const fn kind(&self) -> ProposalKind {
        self.payload.kind()
    }
}

/// The operator's decision (the JSON field `decision`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "kebab-case")]
pub enum Decision {
    /// Grant what was asked.
    Approve,
    /// Grant this route instead (kinds where [`ProposalKind::allows_modify`]).
    ApproveWithModification { route: Route },
    /// Refuse.
    Reject,
    /// Words for a `capability-block`.
    Answer { text: String },
    /// Written by the acting sidecar when it stopped waiting: nobody answered
    /// in time and the request was refused. Never written by an operator.
    Expired,
}

/// A [`Decision`] without its data, for rules and messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DecisionKind {
    Approve,
    ApproveWithModification,
    Reject,
    Answer,
    Expired,
}

impl Decision {
    pub const fn kind(&self) -> DecisionKind {
        match self {
            Self::Approve => DecisionKind::Approve,
            Self::ApproveWithModification { .. } => DecisionKind::ApproveWithModification,
            Self::Reject => DecisionKind::Reject,
            Self::Answer { .. } => DecisionKind::Answer,
            Self::Expired => DecisionKind::Expired,
        }
    }
}

impl DecisionKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::ApproveWithModification => "approve-with-modification",
            Self::Reject => "reject",
            Self::Answer => "answer",
            Self::Expired => "expired",
        }
    }

    /// Whether the decision lets the thing asked for (or a modified version) through.
    pub const fn is_approval(self) -> bool {
        matches!(self, Self::Approve | Self::ApproveWithModification)
    }
}

impl fmt::Display for DecisionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A decision that the proposal's kind does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecisionError {
    #[error(
        "approving a {kind} proposal needs a reason: it is report-only, so say why letting it through is safe (--reason)"
    )]
    ReasonRequired { kind: ProposalKind },
    #[error(
        "a {kind} proposal cannot be modified: only egress-allow and egress-block proposals grant a route"
    )]
    ModifyNotAllowed { kind: ProposalKind },
    #[error("a {kind} proposal cannot be answered with {decision}{hint}")]
    NotAllowed {
        kind: ProposalKind,
        decision: DecisionKind,
        hint: &'static str,
    },
    #[error("an answer to a capability-block needs some text")]
    EmptyAnswer,
    #[error("the granted route needs a host")]
    EmptyRouteHost,
    #[error(
        "an egress-block of {host} narrows that host's route: the route that remains must be for {host}, not {granted}"
    )]
    BlockForAnotherHost { host: String, granted: String },
    #[error("response {response} does not belong to proposal {proposal}")]
    IdMismatch {
        proposal: ProposalId,
        response: ProposalId,
    },
}

/// One response file: the operator's answer to one proposal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    pub schema_version: u32,
    /// The id of the proposal answered.
    pub id: ProposalId,
    #[serde(flatten)]
    pub decision: Decision,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub answered_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_by: Option<String>,
}

impl Response {
    /// An operator's answer, checked against the proposal's kind. A blank
    /// reason counts as none.
    pub fn new(
        proposal: &Proposal,
        decision: Decision,
        reason: Option<String>,
        answered_by: Option<String>,
    ) -> Result<Self, DecisionError> {
        if decision.kind() == DecisionKind::Expired {
            return Err(DecisionError::NotAllowed {
                kind: proposal.kind(),
                decision: DecisionKind::Expired,
                hint: " (only the sidecar that filed it expires a proposal)",
            });
        }
        let response = Self {
            schema_version: SCHEMA_VERSION,
            id: proposal.id.clone(),
            decision,
            reason: reason.filter(|reason| !reason.trim().is_empty()),
            answered_at: Timestamp::now(),
            answered_by,
        };
        response.validate_for(proposal)?;
        Ok(response)
    }

    /// The acting sidecar's own "nobody answered in time".
    pub(crate) fn expired(proposal: &Proposal, reason: String, answered_by: Actor) -> Self {
        Self {
            schema_version: SCHEMA_VERSION,
            id: proposal.id.clone(),
            decision: Decision::Expired,
            reason: Some(reason),
            answered_at: Timestamp::now(),
            answered_by: Some(answered_by.to_string()),
        }
    }

    /// Check a response (one just built, or one read from disk that anyone
    /// could have written by hand) against the rules of the proposal's kind.
    /// An acting sidecar treats a response that fails this as a refusal.
    pub fn validate_for(&self, proposal: &Proposal) -> Result<(), DecisionError> {
        let kind = proposal.kind();
        if self.id != proposal.id {
            return Err(DecisionError::IdMismatch {
                proposal: proposal.id.clone(),
                response: self.id.clone(),
            });
        }
        let decision = self.decision.kind();
        if decision == DecisionKind::Expired {
            return Ok(());
        }
        if decision == DecisionKind::ApproveWithModification && !kind.allows_modify() {
            return Err(DecisionError::ModifyNotAllowed { kind });
        }
        if !kind.allows(decision) {
            let hint = if kind.takes_text_answer() {
                " (answer it in words: `answer ID --text ...`)"
            } else {
                " (approve or reject it)"
            };
            return Err(DecisionError::NotAllowed {
                kind,
                decision,
                hint,
            });
        }
        match &self.decision {
            Decision::Approve if kind.requires_reason_to_approve() && self.reason.is_none() => {
                Err(DecisionError::ReasonRequired { kind })
            }
            Decision::Answer { text } if text.trim().is_empty() => Err(DecisionError::EmptyAnswer),
            Decision::ApproveWithModification { route } if route.host.trim().is_empty() => {
                Err(DecisionError::EmptyRouteHost)
            }
            // Blocking one host must not quietly open another.
            Decision::ApproveWithModification { route } => match &proposal.payload {
                Payload::EgressBlock(ask) if !route.host.eq_ignore_ascii_case(&ask.host) => {
                    Err(DecisionError::BlockForAnotherHost {
                        host: ask.host.clone(),
                        granted: route.host.clone(),
                    })
                }
                _ => Ok(()),
            },
            _ => Ok(()),
        }
    }

    /// The route this response grants for an `egress-allow`/`egress-block`
    /// proposal: the modified route, or the one asked for on a plain approve.
    pub fn granted_route<'a>(&'a self, proposal: &'a Proposal) -> Option<&'a Route> {
        match (&self.decision, &proposal.payload) {
            (Decision::ApproveWithModification { route }, _) => Some(route),
            (Decision::Approve, Payload::EgressAllow(ask)) => Some(&ask.route),
            (Decision::Approve, Payload::EgressBlock(ask)) => ask.route.as_ref(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bot_bottle_manifest::model::{HeaderMatch, OnMatch};
    use proptest::prelude::*;

    fn route(host: &str) -> Route {
        Route {
            host: host.to_string(),
            ..Route::default()
        }
    }

    pub(crate) fn sample_payload(kind: ProposalKind) -> Payload {
        match kind {
            ProposalKind::EgressAllow => Payload::EgressAllow(EgressAllow {
                route: route("api.example.com"),
                reason: "docs".into(),
            }),
            ProposalKind::EgressBlock => Payload::EgressBlock(EgressBlock {
                host: "api.example.com".into(),
                route: None,
                reason: "done".into(),
            }),
            ProposalKind::EgressTokenAllow => Payload::EgressTokenAllow(EgressTokenAllow {
                host: "api.example.com".into(),
                method: "POST".into(),
                path: "/v1/things".into(),
                detector: "patterns".into(),
                rule: "github-pat".into(),
                preview: "gh***9f(40 chars)".into(),
                context: "token=[REDACTED]".into(),
            }),
            ProposalKind::GitleaksAllow => Payload::GitleaksAllow(GitleaksAllow {
                repo: "app".into(),
                reference: "refs/heads/agent/x".into(),
                commit: "0123abcd".into(),
                file: "config.py".into(),
                line: 12,
                rule: "aws-access-key".into(),
                snippet: "KEY = \"[REDACTED]\"".into(),
            }),
            ProposalKind::CapabilityBlock => Payload::CapabilityBlock(CapabilityBlock {
                text: "I cannot run docker".into(),
            }),
        }
    }

    #[test]
    fn kind_rules_table() {
        // kind, report-only, reason to approve, modify, text answer, actor
        let table = [
            (
                ProposalKind::EgressAllow,
                false,
                false,
                true,
                false,
                Actor::Supervise,
            ),
            (
                ProposalKind::EgressBlock,
                false,
                false,
                true,
                false,
                Actor::Supervise,
            ),
            (
                ProposalKind::EgressTokenAllow,
                true,
                true,
                false,
                false,
                Actor::Egress,
            ),
            (
                ProposalKind::GitleaksAllow,
                true,
                true,
                false,
                false,
                Actor::GitGate,
            ),
            (
                ProposalKind::CapabilityBlock,
                false,
                false,
                false,
                true,
                Actor::Supervise,
            ),
        ];
        for (kind, report_only, reason, modify, text, actor) in table {
            assert_eq!(kind.is_report_only(), report_only, "{kind}");
            assert_eq!(kind.requires_reason_to_approve(), reason, "{kind}");
            assert_eq!(kind.allows_modify(), modify, "{kind}");
            assert_eq!(kind.takes_text_answer(), text, "{kind}");
            assert_eq!(kind.actor(), actor, "{kind}");
            assert!(kind.allows(DecisionKind::Reject), "{kind}");
            assert!(!kind.allows(DecisionKind::Expired), "{kind}");
            assert_eq!(kind.allows(DecisionKind::Approve), !text, "{kind}");
        }
    }

    #[test]
    fn response_constructor_enforces_the_kind_rules() {
        for kind in ProposalKind::ALL {
            let proposal = Proposal::new("dev", sample_payload(kind));
            let approve = Response::new(&proposal, Decision::Approve, None, None);
            let approve_with_reason =
                Response::new(&proposal, Decision::Approve, Some("fine".into()), None);
            let blank_reason = Response::new(&proposal, Decision::Approve, Some("  ".into()), None);
            // (The samples ask about api.example.com; an egress-block's
            // remaining route must stay on that host.)
            let modify = Response::new(
                &proposal,
                Decision::ApproveWithModification {
                    route: route("api.example.com"),
                },
                None,
                None,
            );
            let answer = Response::new(
                &proposal,
                Decision::Answer {
                    text: "use podman".into(),
                },
                None,
                None,
            );
            let reject = Response::new(&proposal, Decision::Reject, None, None);
            assert!(reject.is_ok(), "{kind}: reject always allowed");
            match kind {
                ProposalKind::EgressAllow | ProposalKind::EgressBlock => {
                    assert!(approve.is_ok() && modify.is_ok(), "{kind}");
                    assert!(matches!(answer, Err(DecisionError::NotAllowed { .. })));
                }
                ProposalKind::EgressTokenAllow | ProposalKind::GitleaksAllow => {
                    assert_eq!(approve, Err(DecisionError::ReasonRequired { kind }));
                    assert_eq!(blank_reason, Err(DecisionError::ReasonRequired { kind }));
                    assert!(approve_with_reason.is_ok(), "{kind}");
                    assert_eq!(modify, Err(DecisionError::ModifyNotAllowed { kind }));
                    assert!(matches!(answer, Err(DecisionError::NotAllowed { .. })));
                }
                ProposalKind::CapabilityBlock => {
                    assert!(answer.is_ok());
                    assert!(matches!(approve, Err(DecisionError::NotAllowed { .. })));
                    assert_eq!(modify, Err(DecisionError::ModifyNotAllowed { kind }));
                    assert_eq!(
                        Response::new(&proposal, Decision::Answer { text: " ".into() }, None, None),
                        Err(DecisionError::EmptyAnswer)
                    );
                }
            }
            assert!(
                Response::new(&proposal, Decision::Expired, Some("late".into()), None).is_err(),
                "{kind}: an operator cannot write expired"
            );
        }
    }

    #[test]
    fn error_messages_say_what_to_do() {
        let error = DecisionError::ReasonRequired {
            kind: ProposalKind::GitleaksAllow,
        };
        assert_eq!(
            error.to_string(),
            "approving a gitleaks-allow proposal needs a reason: it is report-only, so say why letting it through is safe (--reason)"
        );
    }

    #[test]
    fn files_look_like_the_documented_json() {
        let mut proposal = Proposal::new("dev", sample_payload(ProposalKind::GitleaksAllow));
        proposal.id = ProposalId::parse("20261128T102700123Z-00000001-000000-00000000").unwrap();
        proposal.created_at = Timestamp::from_millis(0);
        let json = serde_json::to_value(&proposal).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "schema_version": 1,
                "id": "20261128T102700123Z-00000001-000000-00000000",
                "bottle": "dev",
                "created_at": "1970-01-01T00:00:00.000Z",
                "kind": "gitleaks-allow",
                "repo": "app",
                "ref": "refs/heads/agent/x",
                "commit": "0123abcd",
                "file": "config.py",
                "line": 12,
                "rule": "aws-access-key",
                "snippet": "KEY = \"[REDACTED]\"",
            })
        );
        let mut response = Response::new(
            &proposal,
            Decision::Reject,
            Some("no".into()),
            Some("ops".into()),
        )
        .unwrap();
        response.answered_at = Timestamp::from_millis(0);
        assert_eq!(
            serde_json::to_value(&response).unwrap(),
            serde_json::json!({
                "schema_version": 1,
                "id": "20261128T102700123Z-00000001-000000-00000000",
                "decision": "reject",
                "reason": "no",
                "answered_at": "1970-01-01T00:00:00.000Z",
                "answered_by": "ops",
            })
        );
    }

    #[test]
    fn a_modified_block_keeps_its_own_host() {
        let proposal = Proposal::new(
            "dev",
            Payload::EgressBlock(EgressBlock {
                host: "api.example.com".into(),
                route: None,
                reason: "narrow".into(),
            }),
        );
        let other = Response::new(
            &proposal,
            Decision::ApproveWithModification {
                route: route("evil.example"),
            },
            None,
            None,
        );
        assert!(
            matches!(other, Err(DecisionError::BlockForAnotherHost { .. })),
            "{other:?}"
        );
        let same = Response::new(
            &proposal,
            Decision::ApproveWithModification {
                route: route("API.example.com"),
            },
            None,
            None,
        );
        assert!(same.is_ok(), "{same:?}");
    }

    #[test]
    fn granted_route_is_the_modification_or_the_ask() {
        let proposal = Proposal::new("dev", sample_payload(ProposalKind::EgressAllow));
        let plain = Response::new(&proposal, Decision::Approve, None, None).unwrap();
        assert_eq!(
            plain.granted_route(&proposal).unwrap().host,
            "api.example.com"
        );
        let modified = Response::new(
            &proposal,
            Decision::ApproveWithModification {
                route: route("narrow.example.com"),
            },
            None,
            None,
        )
        .unwrap();
        assert_eq!(
            modified.granted_route(&proposal).unwrap().host,
            "narrow.example.com"
        );
        let rejected = Response::new(&proposal, Decision::Reject, None, None).unwrap();
        assert_eq!(rejected.granted_route(&proposal), None);
    }

    fn text() -> impl Strategy<Value = String> {
        any::<String>()
    }

    fn arbitrary_route() -> impl Strategy<Value = Route> {
        (
            "[a-z0-9.*-]{1,30}",
            proptest::option::of(proptest::collection::vec("[A-Z]{3,7}", 0..3)),
            proptest::option::of(proptest::collection::vec(text(), 0..3)),
            proptest::option::of(proptest::collection::vec(
                (text(), proptest::option::of(text())),
                0..2,
            )),
            proptest::option::of(text()),
            proptest::option::of(prop_oneof![
                Just(OnMatch::Redact),
                Just(OnMatch::Block),
                Just(OnMatch::Supervise)
            ]),
        )
            .prop_map(
                |(host, methods, paths, headers, token_env, on_match)| Route {
                    host,
                    methods,
                    paths,
                    headers: headers.map(|headers| {
                        headers
                            .into_iter()
                            .map(|(name, value)| HeaderMatch { name, value })
                            .collect()
                    }),
                    auth_scheme: None,
                    auth_header: None,
                    token_env,
                    outbound_on_match: on_match,
                },
            )
    }

    fn arbitrary_payload() -> impl Strategy<Value = Payload> {
        prop_oneof![
            (arbitrary_route(), text())
                .prop_map(|(route, reason)| Payload::EgressAllow(EgressAllow { route, reason })),
            (text(), proptest::option::of(arbitrary_route()), text()).prop_map(
                |(host, route, reason)| Payload::EgressBlock(EgressBlock {
                    host,
                    route,
                    reason
                })
            ),
            (text(), text(), text(), text(), text(), text(), text()).prop_map(
                |(host, method, path, detector, rule, preview, context)| {
                    Payload::EgressTokenAllow(EgressTokenAllow {
                        host,
                        method,
                        path,
                        detector,
                        rule,
                        preview,
                        context,
                    })
                }
            ),
            (text(), text(), text(), text(), any::<u64>(), text(), text()).prop_map(
                |(repo, reference, commit, file, line, rule, snippet)| {
                    Payload::GitleaksAllow(GitleaksAllow {
                        repo,
                        reference,
                        commit,
                        file,
                        line,
                        rule,
                        snippet,
                    })
                }
            ),
            text().prop_map(|text| Payload::CapabilityBlock(CapabilityBlock { text })),
        ]
    }

    fn arbitrary_decision() -> impl Strategy<Value = Decision> {
        prop_oneof![
            Just(Decision::Approve),
            arbitrary_route().prop_map(|route| Decision::ApproveWithModification { route }),
            Just(Decision::Reject),
            text().prop_map(|text| Decision::Answer { text }),
            Just(Decision::Expired),
        ]
    }

    proptest! {
        #[test]
        fn proposals_round_trip_through_json(
            payload in arbitrary_payload(),
            bottle in text(),
            millis in 0_i64..253_402_300_799_999,
        ) {
            let mut proposal = Proposal::new(bottle, payload);
            proposal.created_at = Timestamp::from_millis(millis);
            let json = serde_json::to_string(&proposal).unwrap();
            let back: Proposal = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(back, proposal);
        }

        #[test]
        fn responses_round_trip_through_json(
            decision in arbitrary_decision(),
            reason in proptest::option::of(text()),
            answered_by in proptest::option::of(text()),
        ) {
            let response = Response {
                schema_version: SCHEMA_VERSION,
                id: ProposalId::generate(),
                decision,
                reason,
                answered_at: Timestamp::now(),
                answered_by,
            };
            let json = serde_json::to_string(&response).unwrap();
            let back: Response = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(back, response);
        }
    }
}
