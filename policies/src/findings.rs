//! What a forbid policy's annotations say: its control, article, reasons, obligations and
//! severity, and the rules those annotations follow.

use cedar_policy::Effect;

use crate::annotation;

/// Obligations a policy may name.
pub const OBLIGATIONS: [&str; 3] = ["report_to_regulator", "keep_records", "notify_users"];

/// How a control reports.
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
) -> Result<Option<Finding>, String> {
    let get = |key: &str| policy.annotation(key).map(str::to_owned);
    if policy.effect() == Effect::Permit {
        return Ok(None);
    }
    let missing: Vec<&str> = [
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
        return Err(format!(
            "forbid policy lacks {}: add them so a denial can say which control fired and why",
            missing
                .iter()
                .map(|key| format!("`@{key}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let severity = match policy.annotation(annotation::SEVERITY) {
        None | Some("deny") => Severity::Deny,
        Some("warn") => Severity::Warn,
        Some(other) => {
            return Err(format!(
                "`@severity(\"{other}\")` is not a severity: use `deny` or `warn`"
            ));
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
        return Err(format!(
            "`{unknown}` is not an obligation: use {}",
            OBLIGATIONS.join(", ")
        ));
    }
    let obligation_quote = get(annotation::OBLIGATION_QUOTE).filter(|q| !q.trim().is_empty());
    if !obligations.is_empty() && obligation_quote.is_none() {
        return Err(format!(
            "`@obligation(\"{}\")` without `@obligation_quote`: quote the clause of the notice that asks for it",
            obligations.join(",")
        ));
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
