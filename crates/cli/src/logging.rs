//! Levelled logs with a parseable context suffix.
//!
//! Every line is `LEVEL: message [key=value …]` on standard error. The
//! suffix gathers the fields of the event and of every span it sits in
//! (outer spans first, an inner span or the event winning on a repeated
//! key), sorted by key, with values quoted when they hold whitespace, quotes,
//! `=` or `]`, or are empty — so `grep 'bottle=dev'` or a small parser can
//! filter and correlate lines. A line without context is just
//! `LEVEL: message`.
//!
//! `BOT_BOTTLE_LOG_LEVEL` picks the lowest level shown (`debug`, `info`
//! — the default —, `warn`, `error`); `error` is always shown since nothing
//! sits above it. Held secrets are wrapped in `bot_bottle_secret::Redacted`,
//! whose `Debug` prints a mask, so recording one as a field cannot leak it.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::io::Write as _;
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;

use crate::environment;

/// Parse a level name as `BOT_BOTTLE_LOG_LEVEL` accepts it.
pub fn parse_level(value: &str) -> Option<LevelFilter> {
    match value.trim().to_ascii_lowercase().as_str() {
        "debug" => Some(LevelFilter::DEBUG),
        "info" => Some(LevelFilter::INFO),
        "warn" | "warning" => Some(LevelFilter::WARN),
        "error" => Some(LevelFilter::ERROR),
        _ => None,
    }
}

/// The libraries under the sidecars, shown at `info` at most: their
/// `debug` lines name connections as they are (hyper's pool logs each
/// upstream host, which a wildcard route lets the agent choose, a held
/// token included once the operator approved it), and the sidecars log
/// what matters of them themselves, scrubbed.
pub const QUIET_LIBRARIES: [&str; 7] = [
    "hyper",
    "hyper_util",
    "h2",
    "rustls",
    "tungstenite",
    "tokio_tungstenite",
    "reqwest",
];

/// `level` for this crate's lines; at most `info` for [`QUIET_LIBRARIES`].
pub fn filter(level: LevelFilter) -> tracing_subscriber::filter::Targets {
    let quiet = level.min(LevelFilter::INFO);
    QUIET_LIBRARIES.iter().fold(
        tracing_subscriber::filter::Targets::new().with_default(level),
        |targets, library| targets.with_target(*library, quiet),
    )
}

/// Install the global subscriber. Call once, first thing in `main`.
pub fn init() {
    let requested = environment::log_level();
    let level = requested
        .as_deref()
        .and_then(parse_level)
        .unwrap_or(LevelFilter::INFO);
    let layer = ContextLayer::new(Sink::Stderr).with_filter(filter(level));
    // A second init (tests) keeps the first subscriber.
    let _ = tracing_subscriber::registry().with(layer).try_init();
    if let Some(value) = requested.filter(|value| parse_level(value).is_none()) {
        tracing::warn!(
            variable = environment::LOG_LEVEL,
            value = value.as_str(),
            "unknown log level; using info (choose debug, info, warn or error)"
        );
    }
}

/// Where rendered lines go.
#[derive(Clone)]
pub enum Sink {
    Stderr,
    /// Collected in memory (tests).
    #[cfg_attr(not(test), expect(dead_code, reason = "used by the tests"))]
    Memory(Arc<Mutex<Vec<String>>>),
}

/// Render one line: `LEVEL: message [k=v …]`.
pub fn render_line(level: &Level, message: &str, context: &BTreeMap<String, String>) -> String {
    let mut line = format!("{}: {message}", level_name(level));
    if !context.is_empty() {
        line.push_str(" [");
        for (index, (key, value)) in context.iter().enumerate() {
            if index > 0 {
                line.push(' ');
            }
            let _ = write!(line, "{key}={}", quote_if_needed(value));
        }
        line.push(']');
    }
    line
}

fn level_name(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "error",
        Level::WARN => "warn",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

fn quote_if_needed(value: &str) -> String {
    let needs_quotes = value.is_empty()
        || value
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '=' | ']' | '['));
    if needs_quotes {
        format!("{value:?}")
    } else {
        value.to_string()
    }
}

/// Fields of a span or event, as strings.
#[derive(Default)]
struct Fields {
    message: Option<String>,
    values: BTreeMap<String, String>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = Some(value.to_string());
        } else {
            self.values
                .insert(field.name().to_string(), value.to_string());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let rendered = format!("{value:?}");
        if field.name() == "message" {
            self.message = Some(rendered);
        } else {
            self.values.insert(field.name().to_string(), rendered);
        }
    }
}

/// Span fields kept in the span's extensions.
struct SpanContext(BTreeMap<String, String>);

/// The layer that renders lines.
pub struct ContextLayer {
    sink: Sink,
}

impl ContextLayer {
    pub fn new(sink: Sink) -> Self {
        Self { sink }
    }

    fn emit(&self, line: String) {
        match &self.sink {
            Sink::Stderr => {
                let mut stderr = std::io::stderr().lock();
                let _ = writeln!(stderr, "{line}");
            }
            Sink::Memory(lines) => {
                if let Ok(mut lines) = lines.lock() {
                    lines.push(line);
                }
            }
        }
    }
}

impl<S> Layer<S> for ContextLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanContext(fields.values));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        values.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            let mut extensions = span.extensions_mut();
            if let Some(context) = extensions.get_mut::<SpanContext>() {
                context.0.extend(fields.values);
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut context = BTreeMap::new();
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(fields) = span.extensions().get::<SpanContext>() {
                    context.extend(fields.0.clone());
                }
            }
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        context.extend(fields.values);
        let message = fields.message.unwrap_or_default();
        self.emit(render_line(event.metadata().level(), &message, &context));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bot_bottle_secret::Redacted;

    fn capture(level: LevelFilter, body: impl FnOnce()) -> Vec<String> {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let layer = ContextLayer::new(Sink::Memory(lines.clone())).with_filter(level);
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, body);
        lines.lock().map(|lines| lines.clone()).unwrap_or_default()
    }

    #[test]
    fn a_line_without_context_is_level_and_message() {
        let lines = capture(LevelFilter::INFO, || tracing::info!("listening"));
        assert_eq!(lines, vec!["info: listening"]);
    }

    #[test]
    fn context_is_sorted_and_quoted() {
        let lines = capture(LevelFilter::INFO, || {
            let span = tracing::info_span!("bottle", bottle = "dev");
            let _guard = span.enter();
            tracing::warn!(
                route = "api.example.com",
                reason = "not allowed here",
                "denied"
            );
        });
        assert_eq!(
            lines,
            vec![r#"warn: denied [bottle=dev reason="not allowed here" route=api.example.com]"#]
        );
    }

    #[test]
    fn inner_fields_win_over_outer_ones() {
        let lines = capture(LevelFilter::INFO, || {
            let outer = tracing::info_span!("outer", bottle = "a", stage = "x");
            let _outer = outer.enter();
            let inner = tracing::info_span!("inner", stage = "y");
            let _inner = inner.enter();
            tracing::info!(empty = "", "step");
        });
        assert_eq!(lines, vec![r#"info: step [bottle=a empty="" stage=y]"#]);
    }

    #[test]
    fn levels_are_gated_and_error_always_shows() {
        let lines = capture(LevelFilter::ERROR, || {
            tracing::debug!("d");
            tracing::info!("i");
            tracing::warn!("w");
            tracing::error!("e");
        });
        assert_eq!(lines, vec!["error: e"]);
        let lines = capture(LevelFilter::INFO, || {
            tracing::debug!("d");
            tracing::info!("i");
        });
        assert_eq!(lines, vec!["info: i"]);
        let lines = capture(LevelFilter::DEBUG, || tracing::debug!("d"));
        assert_eq!(lines, vec!["debug: d"]);
    }

    #[test]
    fn libraries_show_info_at_most_and_the_sidecars_debug() {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let layer =
            ContextLayer::new(Sink::Memory(lines.clone())).with_filter(filter(LevelFilter::DEBUG));
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            tracing::debug!(target: "hyper_util::client::legacy::pool", "pooling idle connection for tok-123.example.test");
            tracing::debug!(target: "h2::codec", "frame");
            tracing::info!(target: "hyper_util::client", "kept");
            tracing::debug!(target: "bot_bottle_egress::proxy", "ours");
        });
        let lines = lines.lock().map(|lines| lines.clone()).unwrap_or_default();
        assert_eq!(lines, vec!["info: kept", "debug: ours"]);
    }

    #[test]
    fn a_redacted_field_never_shows_the_secret() {
        let token = Redacted::new("sk-live-0123456789abcdef".to_string());
        let lines = capture(
            LevelFilter::INFO,
            || tracing::info!(token = ?token, "injected"),
        );
        assert_eq!(lines, vec![r#"info: injected [token="[REDACTED]"]"#]);
        assert!(!lines[0].contains("sk-live"));
    }

    #[test]
    fn level_names_parse() {
        assert_eq!(parse_level("DEBUG"), Some(LevelFilter::DEBUG));
        assert_eq!(parse_level("warn"), Some(LevelFilter::WARN));
        assert_eq!(parse_level("error"), Some(LevelFilter::ERROR));
        assert_eq!(parse_level("info"), Some(LevelFilter::INFO));
        assert_eq!(parse_level("loud"), None);
    }
}
