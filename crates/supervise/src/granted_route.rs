//! The route an operator grants instead of the one asked for
//! (`proposals approve --modify FILE`, the TUI's modify editor): YAML in,
//! a [`Route`] checked by the same rules as a route in a manifest out.
//!
//! Both operator tools call [`parse_granted_route`], so a route refused in
//! one is refused, with the same words, in the other.

use std::fmt::{self, Write as _};

use bot_bottle_manifest::model::Route;

/// Why a granted route was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantedRouteError {
    /// Not YAML, or not shaped like a route.
    #[error(
        "not a route ({message}); write the granted route as YAML, e.g.\n  host: api.example.com\n  methods: [GET]\n  paths: [/v1/]"
    )]
    NotARoute { message: String },
    /// A route, but one the manifest rules refuse.
    #[error("not a valid route:{}", list_problems(problems))]
    Invalid { problems: Vec<RouteProblem> },
}

/// One rule a granted route breaks: the field (relative to the route) and
/// what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteProblem {
    pub field: String,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for RouteProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " ({hint})")?;
        }
        Ok(())
    }
}

fn list_problems(problems: &[RouteProblem]) -> String {
    let mut text = String::new();
    for problem in problems {
        let _ = write!(text, "\n  {problem}");
    }
    text
}

/// Parse a granted route from YAML and hold it to the same rules as a route
/// in a manifest (host pattern, methods, paths, `token_env` naming a
/// variable, …).
pub fn parse_granted_route(yaml: &str) -> Result<Route, GrantedRouteError> {
    let route =
        serde_saphyr::from_str::<Route>(yaml).map_err(|error| GrantedRouteError::NotARoute {
            message: error.to_string(),
        })?;
    let problems = route_problems(&route);
    if problems.is_empty() {
        return Ok(route);
    }
    Err(GrantedRouteError::Invalid { problems })
}

/// Every manifest rule `route` breaks, fields named relative to the route
/// (also how the MCP server checks the route an agent asks for).
pub fn route_problems(route: &Route) -> Vec<RouteProblem> {
    bot_bottle_manifest::validate::validate_route(route)
        .into_iter()
        .map(|finding| RouteProblem {
            field: finding.path.to_string(),
            message: finding.message,
            hint: finding.hint,
        })
        .collect()
}

/// A route as the YAML [`parse_granted_route`] reads back (the modify
/// editor starts from it). `None` only if the route cannot be serialized.
pub fn route_yaml(route: &Route) -> Option<String> {
    serde_saphyr::to_string(route).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_route_round_trips() {
        let route = parse_granted_route("host: api.example.com\nmethods: [GET]\npaths: [/v1/]\n")
            .expect("valid");
        assert_eq!(route.host, "api.example.com");
        assert_eq!(route.methods, Some(vec!["GET".to_string()]));
        let yaml = route_yaml(&route).expect("serializes");
        assert_eq!(parse_granted_route(&yaml), Ok(route));
    }

    #[test]
    fn not_yaml_or_not_a_route_says_how_to_write_one() {
        for text in ["host: [", "hostname: x\n", "- a\n"] {
            let error = parse_granted_route(text).expect_err(text);
            assert!(
                matches!(error, GrantedRouteError::NotARoute { .. }),
                "{text}"
            );
            assert!(
                error.to_string().contains("host: api.example.com"),
                "{text}"
            );
        }
    }

    #[test]
    fn rule_breaking_routes_name_the_field() {
        let error = parse_granted_route("host: 'Not A Host!'\n").expect_err("invalid host");
        let GrantedRouteError::Invalid { problems } = &error else {
            panic!("want Invalid, got {error:?}");
        };
        assert!(
            problems.iter().any(|problem| problem.field == "host"),
            "{problems:?}"
        );
        assert!(
            error
                .to_string()
                .starts_with("not a valid route:\n  host: "),
            "{error}"
        );
    }
}
