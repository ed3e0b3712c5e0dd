//! Problems with file, line and column: Cedar's diagnostics turned into lines a policy author can
//! jump to.

use std::fmt;

/// Where a problem is, and what it is. Problems sort by file, line, column and message.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    /// The file name.
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// Cedar's message (or yungui's, for annotation rules), with its help where it gives one.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem found, in file order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", render(.0))]
pub struct Problems(pub Vec<Problem>);

fn render(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Turns a Cedar diagnostic into problems, one per labelled span (or one without a place).
pub(crate) fn diagnostic_problems(
    file: &str,
    text: &str,
    diagnostic: &dyn miette::Diagnostic,
) -> Vec<Problem> {
    let mut out = Vec::new();
    collect(file, text, diagnostic, &mut out);
    if out.is_empty() {
        out.push(Problem {
            file: file.to_owned(),
            line: None,
            column: None,
            message: message_of(diagnostic),
        });
    }
    out
}

fn collect(file: &str, text: &str, d: &dyn miette::Diagnostic, out: &mut Vec<Problem>) {
    // Parse errors come as a list of related diagnostics; each carries its own span.
    let mut related = d.related().into_iter().flatten().peekable();
    if related.peek().is_some() {
        for inner in related {
            collect(file, text, inner, out);
        }
        return;
    }
    let offset = d
        .labels()
        .and_then(|mut labels| labels.next())
        .map(|l| l.offset());
    let (line, column) = match offset {
        Some(offset) => {
            let (line, column) = line_column(text, offset);
            (Some(line), Some(column))
        }
        None => (None, None),
    };
    out.push(Problem {
        file: file.to_owned(),
        line,
        column,
        message: message_of(d),
    });
}

fn message_of(d: &dyn miette::Diagnostic) -> String {
    match d.help() {
        Some(help) => format!("{d} (help: {help})"),
        None => d.to_string(),
    }
}

/// 1-based line and column of a byte offset.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit_once('\n')
        .map_or(before, |(_, last)| last)
        .chars()
        .count()
        + 1;
    (line, column)
}
