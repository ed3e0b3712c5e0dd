//! Logs on stderr: plain lines for people (coloured only on a terminal, never with `NO_COLOR`), or
//! one JSON object per line (`--log-json`) for collectors.
//!
//! A plain line's message and fields carry text from requests (a rule name, a path, a reason): every
//! control character in them is escaped ([`PlainFields`]), so a newline sent by a client never
//! starts a line of its own.
//!
//! The JSON lines are written by [`JsonLines`] rather than tracing-subscriber's own JSON format,
//! because a field may be a list: log it as `field = ?Json(value)` and it is written as JSON (an
//! array for the decision log's `controls`), not as a string.

use std::fmt;
use std::io::IsTerminal as _;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime as _, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// A field value written as JSON in `--log-json` lines (as its JSON text in plain lines).
#[derive(Clone, PartialEq)]
pub struct Json(pub Value);

impl fmt::Debug for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_string())
    }
}

/// Whether plain logs may carry ANSI colours: only on a terminal, and not when `NO_COLOR` is set
/// to anything but the empty string (<https://no-color.org>).
pub fn colour(stderr_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// Installs the subscriber for the process: `YUNGUI_LOG` overrides `default_filter`.
pub fn init(default_filter: &str, json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("YUNGUI_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        logs.with_ansi(false).event_format(JsonLines).init();
    } else {
        let ansi = colour(
            std::io::stderr().is_terminal(),
            std::env::var_os("NO_COLOR").as_deref(),
        );
        logs.with_ansi(ansi).fmt_fields(PlainFields).init();
    }
}

/// The fields of a plain line (`message` first, then `name=value`), each control character escaped
/// as Rust writes it (`\n`, `\r`, `\u{1b}`...).
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainFields;

impl<'writer> FormatFields<'writer> for PlainFields {
    fn format_fields<R: tracing_subscriber::field::RecordFields>(
        &self,
        writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        let mut visitor = PlainVisitor {
            writer,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct PlainVisitor<'writer> {
    writer: Writer<'writer>,
    first: bool,
    result: fmt::Result,
}

impl Visit for PlainVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.record_debug(field, &format_args!("{value}"));
        } else {
            self.record_debug(field, &value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.result.is_err() {
            return;
        }
        let text = if field.name() == "message" {
            format!("{value:?}")
        } else {
            format!("{}={value:?}", field.name())
        };
        let separator = if std::mem::take(&mut self.first) {
            ""
        } else {
            " "
        };
        self.result = write!(self.writer, "{separator}{}", escape_controls(&text));
    }
}

/// `text` with its control characters escaped.
pub fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// One JSON object per event: `timestamp`, `level`, `target`, `message` and the event's fields at
/// the top level.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = Map::new();
        let mut timestamp = String::new();
        SystemTime.format_time(&mut Writer::new(&mut timestamp))?;
        line.insert("timestamp".to_owned(), Value::String(timestamp));
        let meta = event.metadata();
        line.insert(
            "level".to_owned(),
            Value::String(meta.level().as_str().to_owned()),
        );
        let mut fields = Fields(Map::new());
        event.record(&mut fields);
        line.extend(fields.0);
        line.insert("target".to_owned(), Value::String(meta.target().to_owned()));
        let text = serde_json::to_string(&line).map_err(|_| fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

struct Fields(Map<String, Value>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let text = format!("{value:?}");
        // A `Json` value (its Debug is its JSON text) stays JSON; anything else is a string.
        let value = if field.name() != "message" && text.starts_with(['[', '{']) {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        } else {
            Value::String(text)
        };
        self.0.insert(field.name().to_owned(), value);
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0
            .insert(field.name().to_owned(), Value::String(value.to_owned()));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), Value::Bool(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0
            .insert(field.name().to_owned(), Value::String(value.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;
    use std::sync::{Arc, Mutex};

    use super::*;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(colour(true, None));
        assert!(colour(true, Some(OsStr::new(""))));
        assert!(!colour(true, Some(OsStr::new("1"))));
        assert!(!colour(false, None));
    }

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A rule name or a webhook path holding a newline (both come from the client) stays on its
    /// line, in the message and in the fields.
    #[test]
    fn plain_lines_escape_what_would_forge_another_line() {
        let buffer = Buffer::default();
        let out = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || out.clone())
            .with_ansi(false)
            .fmt_fields(PlainFields)
            .finish();
        let rule = "os_compute_api:servers:create\n2026-12-05T12:00:00Z  INFO yungui::decision: decision decision=\"allow\"";
        let path = "/validate/x\r\nforged\u{1b}[2J";
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(target: "yungui::openstack", rule, path = %path, "answering False: rule `{rule}` is not in the map");
            tracing::warn!("malformed admission review: unknown mode `{path}`");
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(!text.contains('\r') && !text.contains('\u{1b}'), "{text}");
        assert!(text.contains("servers:create\\n2026"), "{text}");
        assert!(text.contains("rule=\"os_compute_api"), "{text}");
        assert!(text.contains("path=/validate/x\\r\\nforged"), "{text}");
        assert!(
            text.contains("unknown mode `/validate/x\\r\\nforged\\u{1b}[2J`"),
            "{text}"
        );
    }

    #[test]
    fn json_lines_keep_lists_as_arrays() {
        let buffer = Buffer::default();
        let out = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || out.clone())
            .with_ansi(false)
            .event_format(JsonLines)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(
                target: "yungui::decision",
                controls = ?Json(serde_json::json!(["a", "b"])),
                latency_us = 12_u64,
                dry_run = false,
                tenant = "shop",
                text = ?"[not json",
                "decision"
            );
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let line: Value = serde_json::from_str(text.trim_end()).unwrap();
        assert_eq!(line["controls"], serde_json::json!(["a", "b"]));
        assert_eq!(line["latency_us"], 12);
        assert_eq!(line["dry_run"], false);
        assert_eq!(line["tenant"], "shop");
        assert_eq!(line["message"], "decision");
        assert_eq!(line["target"], "yungui::decision");
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["text"], "\"[not json\"");
        assert!(line["timestamp"].as_str().unwrap().ends_with('Z'), "{line}");
        assert!(!text.contains('\u{1b}'));
    }
}
