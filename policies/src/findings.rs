//! What a forbid policy's annotations say: its control, article, reasons, obligations and
//! severity, and the rules those annotations follow.

use cedar_policy::Effect;

use crate::annotation;

/// Obligations a policy may name.
pub const OBLIGATIONS: [&str; 3] = ["report_to_regulator", "keep_records", "notify_users"];

/// A forbid policy's annotations break a rule; the message says which and how to mend it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum AnnotationError {
    /// Annotations every forbid policy carries are missing (or blank).
    #[error(
        "forbid policy lacks {}: add them so a denial can say which control fired and why",
        .0.iter().map(|key| format!("`@{key}`")).collect::<Vec<_>>().join(", ")
    )]
    Missing(Vec<&'static str>),
    /// `@severity` is neither `deny` nor `warn`.
    #[error("`@severity(\"{0}\")` is not a severity: use `deny` or `warn`")]
    Severity(String),
    /// An obligation not in [`OBLIGATIONS`].
    #[error("`{0}` is not an obligation: use {known}", known = OBLIGATIONS.join(", "))]
    Obligation(String),
    /// `@obligation` without the clause it comes from.
    #[error(
        "`@obligation(\"{}\")` without `@obligation_quote`: quote the clause of the notice that asks for it",
        .0.join(",")
    )]
    Unquoted(Vec<String>),
}

/// How a control reports. Not `#[non_exhaustive]`: the host and the component map every severity
/// to their own, exhaustively, so a new one fails their build until they say what it means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Denies the request.
    Deny,
    /// Never denies; comes back as a warning.
    Warn,
}

/// What a forbid policy's annotations say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The policy's own id (`@id`).
    pub id: String,
    /// The control id (`@control`).
    pub control: String,
    /// The article.
    pub article: String,
    /// English reason.
    pub reason: String,
    /// Chinese reason.
    pub reason_zh: String,
    /// Obligations, in the order written.
    pub obligations: Vec<String>,
    /// The clause the obligations come from, quoted.
    pub obligation_quote: Option<String>,
    /// Deny or warn.
    pub severity: Severity,
    /// The file the policy lives in.
    pub file: String,
    /// 1-based line of the policy's `@id` in its file, when it has one.
    pub line: Option<usize>,
}

/// Reads a forbid policy's annotations. `Ok(None)` for a permit.
pub(crate) fn read_finding(
    file: &str,
    policy: &cedar_policy::Policy,
    line: Option<usize>,
) -> Result<Option<Finding>, AnnotationError> {
    let get = |key: &str| policy.annotation(key).map(str::to_owned);
    if policy.effect() == Effect::Permit {
        return Ok(None);
    }
    let missing: Vec<&'static str> = [
        annotation::ID,
        annotation::CONTROL,
        annotation::ARTICLE,
        annotation::REASON,
        annotation::REASON_ZH,
    ]
    .into_iter()
    .filter(|key| get(key).is_none_or(|v| v.trim().is_empty()))
    .collect();
    if !missing.is_empty() {
        return Err(AnnotationError::Missing(missing));
    }
    let severity = match policy.annotation(annotation::SEVERITY) {
        None | Some("deny") => Severity::Deny,
        Some("warn") => Severity::Warn,
        Some(other) => {
            return Err(AnnotationError::Severity(other.to_owned()));
        }
    };
    let obligations: Vec<String> = policy
        .annotation(annotation::OBLIGATION)
        .map(|list| {
            list.split(',')
                .map(|o| o.trim().to_owned())
                .filter(|o| !o.is_empty())
                .collect()
        })
        .unwrap_or_default();
    if let Some(unknown) = obligations
        .iter()
        .find(|o| !OBLIGATIONS.contains(&o.as_str()))
    {
        return Err(AnnotationError::Obligation(unknown.clone()));
    }
    let obligation_quote = get(annotation::OBLIGATION_QUOTE).filter(|q| !q.trim().is_empty());
    if !obligations.is_empty() && obligation_quote.is_none() {
        return Err(AnnotationError::Unquoted(obligations));
    }
    Ok(Some(Finding {
        obligation_quote,
        id: get(annotation::ID).unwrap_or_default(),
        control: get(annotation::CONTROL).unwrap_or_default(),
        article: get(annotation::ARTICLE).unwrap_or_default(),
        reason: get(annotation::REASON).unwrap_or_default(),
        reason_zh: get(annotation::REASON_ZH).unwrap_or_default(),
        obligations,
        severity,
        file: file.to_owned(),
        line,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The messages policy authors read, word for word.
    #[test]
    fn annotation_errors_say_what_to_mend() {
        let cases = [
            (
                AnnotationError::Missing(vec![annotation::CONTROL, annotation::REASON_ZH]),
                "forbid policy lacks `@control`, `@reason_zh`: add them so a denial can say which control fired and why",
            ),
            (
                AnnotationError::Severity("loud".to_owned()),
                "`@severity(\"loud\")` is not a severity: use `deny` or `warn`",
            ),
            (
                AnnotationError::Obligation("keep_recrods".to_owned()),
                "`keep_recrods` is not an obligation: use report_to_regulator, keep_records, notify_users",
            ),
            (
                AnnotationError::Unquoted(vec![
                    "keep_records".to_owned(),
                    "notify_users".to_owned(),
                ]),
                "`@obligation(\"keep_records,notify_users\")` without `@obligation_quote`: quote the clause of the notice that asks for it",
            ),
        ];
        for (err, text) in cases {
            assert_eq!(err.to_string(), text);
        }
    }
}
