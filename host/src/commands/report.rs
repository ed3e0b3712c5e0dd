//! `yungui report`: the trace from the notice to the policies and the cases that exercise them, as
//! a Markdown file and a self-contained HTML page, generated and never written by hand.
//!
//! Article → sub-item (quoted in Chinese and English, from `policies/notice.json`) → control →
//! its policies (`file:line`, reasons, obligations with the clause they come from) → the golden
//! cases that make it fire and those that keep it quiet, run at report time with their decisions
//! → or, for a duty no request can show, why. `--check` compares with the committed files instead
//! of writing them, for CI.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};

use anyhow::Context as _;
use clap::Args;
use serde::Deserialize;
use yungui_policies::{Finding, Severity, Sources, Validate, Vocabularies, slice_by_action};

use super::{EngineArgs, SOURCE_POLICIES};
use crate::cases::{CaseResult, Runner, discover};

/// The notice's file, inside the policy folder.
pub const NOTICE_FILE: &str = "notice.json";

/// Write (or check) the trace report: notice → controls → policies → cases.
#[derive(Debug, Args)]
pub struct ReportCommand {
    /// Case files or folders. Default: `tests/cases`.
    pub cases: Vec<PathBuf>,

    /// Where the Markdown report goes.
    #[arg(long, default_value = "docs/controls.md", value_name = "FILE")]
    pub markdown: PathBuf,

    /// Where the HTML report goes.
    #[arg(long, default_value = "docs/controls.html", value_name = "FILE")]
    pub html: PathBuf,

    /// Do not write: exit 1 when the files differ from what would be written (for CI).
    #[arg(long)]
    pub check: bool,

    /// The policy folder (`schema.cedarschema`, `*.cedar`, `notice.json`) is `--policies`
    /// (default: the source checkout's `policies/`, which the shipped policy set is built from);
    /// the cases run on the same policy set.
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// `notice.json`: the notice, article by article, each sub-item with its controls or the duties
/// no request can show.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Notice {
    title: String,
    title_en: String,
    articles: Vec<Article>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Article {
    article: String,
    title: String,
    items: Vec<Item>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Item {
    item: String,
    zh: String,
    en: String,
    controls: Vec<String>,
    /// The properties stating the sub-item (`properties/*.cedar`), proven by `yungui analyze`.
    #[serde(default)]
    #[expect(
        dead_code,
        reason = "checked by `yungui analyze`; the report does not show it yet"
    )]
    properties: Vec<String>,
    undecidable: Vec<Undecidable>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Undecidable {
    duty: String,
    why: String,
}

/// One case as the report shows it.
#[derive(Debug)]
struct CaseRow {
    path: String,
    description: String,
    outcome: String,
    passed: bool,
}

/// Everything the report shows, gathered once and rendered twice.
#[derive(Debug)]
struct Model {
    notice: Notice,
    /// Control → its policies, in file order.
    policies: BTreeMap<String, Vec<Finding>>,
    /// Control → (cases that make it fire, cases that keep it quiet).
    cases: BTreeMap<String, (Vec<CaseRow>, Vec<CaseRow>)>,
    /// Control → the actions its policies' scopes cover (conditions may narrow them further).
    actions: BTreeMap<String, BTreeSet<String>>,
    /// Every action a request can name.
    all_actions: BTreeSet<String>,
    /// The closed vocabularies of the schema.
    vocabularies: Vocabularies,
    /// The policy folder, as shown.
    policy_dir: String,
    policy_count: usize,
    case_count: usize,
    failed: usize,
}

impl ReportCommand {
    /// Runs the command; returns the exit code (0 written or up to date, 1 stale or a case
    /// failed).
    pub fn execute(self) -> anyhow::Result<u8> {
        let dir = self
            .engine
            .policies
            .clone()
            .unwrap_or_else(|| PathBuf::from(SOURCE_POLICIES));
        let sources = Sources::read_dir(&dir)?;
        let compiled = sources
            .compile(Validate::Strict)
            .map_err(|problems| anyhow::anyhow!("the policies are not valid:\n{problems}"))?;
        let notice_path = dir.join(NOTICE_FILE);
        let notice: Notice = serde_json::from_str(
            &std::fs::read_to_string(&notice_path)
                .with_context(|| format!("cannot read `{}`", notice_path.display()))?,
        )
        .with_context(|| format!("`{}` is not a notice file", notice_path.display()))?;

        let mut policies: BTreeMap<String, Vec<Finding>> = BTreeMap::new();
        for finding in compiled.findings.values() {
            policies
                .entry(finding.control.clone())
                .or_default()
                .push(finding.clone());
        }
        for list in policies.values_mut() {
            list.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
        }
        check_mapping(&notice, &policies)?;
        let slices = slice_by_action(&compiled.policies, &compiled.schema)
            .map_err(|e| anyhow::anyhow!("cannot slice the policies by action: {e}"))?;
        let mut actions: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut all_actions = BTreeSet::new();
        for (action, slice) in &slices {
            // Action groups have no principals: a request never names them.
            let requestable = compiled
                .schema
                .principals_for_action(action)
                .is_some_and(|mut principals| principals.next().is_some());
            if !requestable {
                continue;
            }
            let name = action.id().unescaped().to_owned();
            all_actions.insert(name.clone());
            for policy in slice.policies() {
                if let Some(finding) = compiled.findings.get(policy.id()) {
                    actions
                        .entry(finding.control.clone())
                        .or_default()
                        .insert(name.clone());
                }
            }
        }

        let paths = if self.cases.is_empty() {
            vec![PathBuf::from("tests/cases")]
        } else {
            self.cases.clone()
        };
        let files = discover(&paths).map_err(anyhow::Error::msg)?;
        let engine = self.engine.engine()?;
        let runner = Runner::new(&engine);
        let results: Vec<CaseResult> = files.iter().map(|f| runner.run(f)).collect();
        let failed = results.iter().filter(|r| r.failure.is_some()).count();
        let mut cases: BTreeMap<String, (Vec<CaseRow>, Vec<CaseRow>)> = BTreeMap::new();
        for result in &results {
            for (control, fires) in &result.exercised {
                let row = CaseRow {
                    path: shown(&result.path),
                    description: result.description.clone(),
                    outcome: result.outcome.clone(),
                    passed: result.failure.is_none(),
                };
                let entry = cases.entry(control.clone()).or_default();
                if *fires {
                    entry.0.push(row);
                } else {
                    entry.1.push(row);
                }
            }
        }

        let model = Model {
            notice,
            policies,
            cases,
            actions,
            all_actions,
            vocabularies: compiled.vocabularies.clone(),
            policy_dir: shown(&dir),
            policy_count: compiled.policies.policies().count(),
            case_count: results.len(),
            failed,
        };
        let markdown = model.markdown(&link_base(&self.markdown));
        let html = model.html(&link_base(&self.html));

        let mut code = 0;
        if failed > 0 {
            eprintln!("{failed} case(s) failed: run `yungui test` to see which");
            code = 1;
        }
        for (path, text) in [(&self.markdown, &markdown), (&self.html, &html)] {
            if self.check {
                let current = std::fs::read_to_string(path).unwrap_or_default();
                if &current == text {
                    println!("up to date: {}", path.display());
                } else {
                    println!(
                        "out of date: {} (run `yungui report` and commit it)",
                        path.display()
                    );
                    code = 1;
                }
            } else {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent)
                        .with_context(|| format!("cannot create `{}`", parent.display()))?;
                }
                std::fs::write(path, text)
                    .with_context(|| format!("cannot write `{}`", path.display()))?;
                println!("wrote {}", path.display());
            }
        }
        Ok(code)
    }
}

/// Every control of the policies is under some sub-item, every control a sub-item names exists,
/// and every sub-item has a control or says why none can decide it.
fn check_mapping(notice: &Notice, policies: &BTreeMap<String, Vec<Finding>>) -> anyhow::Result<()> {
    let mut problems = Vec::new();
    let mut named = BTreeSet::new();
    for article in &notice.articles {
        for item in &article.items {
            if item.controls.is_empty() && item.undecidable.is_empty() {
                problems.push(format!(
                    "`{}` has neither a control nor a duty that cannot be decided at request time",
                    item.item
                ));
            }
            for control in &item.controls {
                named.insert(control.as_str());
                if !policies.contains_key(control) {
                    problems.push(format!(
                        "`{}` names control `{control}`, which no policy has",
                        item.item
                    ));
                }
            }
        }
    }
    for control in policies.keys() {
        if !named.contains(control.as_str()) {
            problems.push(format!(
                "control `{control}` is under no sub-item of `{NOTICE_FILE}`: add it where the notice asks for it"
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        anyhow::bail!(
            "`{NOTICE_FILE}` and the policies disagree:\n{}",
            problems.join("\n")
        )
    }
}

/// A path as the report shows it: relative to the working directory when under it.
fn shown(path: &Path) -> String {
    let absolute = path.canonicalize().unwrap_or_else(|_| path.to_owned());
    let relative = std::env::current_dir()
        .ok()
        .and_then(|cwd| cwd.canonicalize().ok())
        .and_then(|cwd| absolute.strip_prefix(cwd).ok().map(Path::to_owned))
        .unwrap_or(absolute);
    relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// The prefix that turns a path shown relative to the working directory into a link from the
/// report's own folder (`docs/controls.md` → `../`).
fn link_base(report: &Path) -> String {
    let depth = report.parent().map_or(0, |p| {
        p.components()
            .filter(|c| matches!(c, Component::Normal(_)))
            .count()
    });
    "../".repeat(depth)
}

fn severity(findings: &[Finding]) -> &'static str {
    if findings.iter().all(|f| f.severity == Severity::Warn) {
        "warn"
    } else {
        "deny"
    }
}

fn articles(findings: &[Finding]) -> String {
    let set: BTreeSet<&str> = findings.iter().map(|f| f.article.as_str()).collect();
    set.into_iter().collect::<Vec<_>>().join(", ")
}

/// A case's folder and file name, `art2-licence/deny-expired-licence.json`.
fn short(path: &str) -> &str {
    path.rmatch_indices('/')
        .nth(1)
        .and_then(|(i, _)| path.get(i + 1..))
        .unwrap_or(path)
}

/// Markdown table cell text: no pipes or line breaks.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

fn anchor(control: &str) -> String {
    control
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;line-height:1.45;color:#1b1b1b}\
h1{font-size:1.6rem}h2{border-bottom:2px solid #ccc;margin-top:2.5rem}h3{margin-top:1.8rem}h4{margin-top:1.4rem}\
blockquote{margin:.5rem 0;padding:.3rem .8rem;border-left:4px solid #b22;background:#faf6f6}\
table{border-collapse:collapse;width:100%;margin:.5rem 0;font-size:.9rem}th,td{border:1px solid #ccc;padding:.25rem .45rem;text-align:left;vertical-align:top}\
th{background:#f2f2f2}code{font-size:.9em}.pass{color:#176317}.fail{color:#b00;font-weight:bold}.undecidable{background:#fffbe6}\
.tag{display:inline-block;padding:0 .4rem;border-radius:.3rem;font-size:.8rem;background:#eee}";

impl Model {
    fn item_controls<'a>(
        &'a self,
        item: &'a Item,
    ) -> impl Iterator<Item = (&'a str, &'a [Finding])> {
        item.controls
            .iter()
            .filter_map(|c| self.policies.get(c).map(|p| (c.as_str(), p.as_slice())))
    }

    /// The actions a control's policies apply to, in words.
    fn actions_of(&self, control: &str) -> String {
        match self.actions.get(control) {
            None => "none".to_owned(),
            Some(set) if set == &self.all_actions => format!("every action ({})", set.len()),
            Some(set) => set.iter().cloned().collect::<Vec<_>>().join(", "),
        }
    }

    fn counts(&self, control: &str) -> (usize, usize) {
        self.cases
            .get(control)
            .map_or((0, 0), |(fire, quiet)| (fire.len(), quiet.len()))
    }

    fn markdown(&self, base: &str) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# Controls of the notice: trace report\n");
        let _ = writeln!(
            out,
            "<!-- Generated by `yungui report` from `{dir}/notice.json`, the policies' annotations and the golden cases. Do not edit: run `yungui report`. -->\n",
            dir = self.policy_dir
        );
        let _ = writeln!(out, "{}  \n{}\n", self.notice.title, self.notice.title_en);
        let _ = writeln!(
            out,
            "Every sub-item of the notice, quoted (Chinese authoritative, English working rendering); the controls that decide it at request time, each with its Cedar policies (file and line, reasons, obligations and the clause they come from) and the golden cases that make it fire and keep it quiet, run when this report was generated; or why a duty cannot be decided when a request is made. {} policies, {} controls, {} cases run, {} failed.\n",
            self.policy_count,
            self.policies.len(),
            self.case_count,
            self.failed
        );
        let _ = writeln!(out, "## Summary\n");
        let _ = writeln!(
            out,
            "| article | sub-item | controls (cases firing / quiet) | not decidable at request time |"
        );
        let _ = writeln!(out, "|---|---|---|---|");
        for article in &self.notice.articles {
            for item in &article.items {
                let controls: Vec<String> = self
                    .item_controls(item)
                    .map(|(c, _)| {
                        let (fire, quiet) = self.counts(c);
                        format!("[`{c}`](#{}) ({fire} / {quiet})", anchor(c))
                    })
                    .collect();
                let duties: Vec<String> = item.undecidable.iter().map(|u| cell(&u.duty)).collect();
                let _ = writeln!(
                    out,
                    "| {} {} | {} | {} | {} |",
                    article.article,
                    cell(&article.title),
                    item.item,
                    controls.join("<br>"),
                    duties.join("; ")
                );
            }
        }
        let _ = writeln!(out, "\n## Closed vocabularies\n");
        let _ = writeln!(
            out,
            "A request or registry entry holding any other value gets no decision (a bad request, or bad entity data), never a value that skips a control.\n"
        );
        let _ = writeln!(out, "| attribute | allowed values |");
        let _ = writeln!(out, "|---|---|");
        for (owner, attributes) in &self.vocabularies {
            for (attribute, values) in attributes {
                let _ = writeln!(
                    out,
                    "| `{owner}.{attribute}` | {} |",
                    values
                        .iter()
                        .map(|v| format!("`{v}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
        }
        let mut rendered = BTreeSet::new();
        for article in &self.notice.articles {
            let _ = writeln!(out, "\n## Article {}: {}", article.article, article.title);
            for item in &article.items {
                let _ = writeln!(out, "\n### {}\n", item.item);
                let _ = writeln!(out, "> {}\n>\n> {}", item.zh, item.en);
                for (control, findings) in self.item_controls(item) {
                    if !rendered.insert(control) {
                        let _ = writeln!(
                            out,
                            "\nDecided by [`{control}`](#{}), above.",
                            anchor(control)
                        );
                        continue;
                    }
                    let _ = writeln!(
                        out,
                        "\n#### <a id=\"{}\"></a>`{control}` ({}, art. {})\n",
                        anchor(control),
                        severity(findings),
                        articles(findings)
                    );
                    let _ = writeln!(
                        out,
                        "Checked on (the actions its policies' scopes cover; conditions may narrow them): {}\n",
                        self.actions_of(control)
                    );
                    let _ = writeln!(out, "| policy | where | reason | obligations |");
                    let _ = writeln!(out, "|---|---|---|---|");
                    for f in findings {
                        let path = format!("{}/{}", self.policy_dir, f.file);
                        let line = f.line.unwrap_or(1);
                        let obligations = if f.obligations.is_empty() {
                            String::new()
                        } else {
                            format!(
                                "{}: «{}»",
                                f.obligations.join(", "),
                                cell(f.obligation_quote.as_deref().unwrap_or_default())
                            )
                        };
                        let _ = writeln!(
                            out,
                            "| `{}` | [{}:{line}]({base}{path}#L{line}) | {}<br>{} | {obligations} |",
                            f.id,
                            f.file,
                            cell(&f.reason),
                            cell(&f.reason_zh)
                        );
                    }
                    let (fire, quiet) = self
                        .cases
                        .get(control)
                        .map_or((&[][..], &[][..]), |(f, q)| (f.as_slice(), q.as_slice()));
                    for (label, rows) in [("fires", fire), ("stays quiet", quiet)] {
                        let _ = writeln!(out, "\nCases where it {label} ({}):\n", rows.len());
                        if rows.is_empty() {
                            let _ = writeln!(out, "- none");
                            continue;
                        }
                        for row in rows {
                            let mark = if row.passed { "pass" } else { "**FAIL**" };
                            let _ = writeln!(
                                out,
                                "- [{}]({base}{}) — {} → `{}`, {mark}",
                                short(&row.path),
                                row.path,
                                row.description,
                                row.outcome
                            );
                        }
                    }
                }
                if !item.undecidable.is_empty() {
                    let _ = writeln!(out, "\nNot decidable at request time:\n");
                    for u in &item.undecidable {
                        let _ = writeln!(out, "- {}: {}", u.duty, u.why);
                    }
                }
            }
        }
        out
    }

    fn html(&self, base: &str) -> String {
        let mut out = String::new();
        let _ = write!(
            out,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>yungui: controls of the notice</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        );
        let _ = writeln!(
            out,
            "<!-- Generated by yungui report. Do not edit: run `yungui report`. -->\n<h1>Controls of the notice: trace report</h1>\n<p lang=\"zh\">{}</p>\n<p>{}</p>",
            escape(&self.notice.title),
            escape(&self.notice.title_en)
        );
        let _ = writeln!(
            out,
            "<p>{} policies, {} controls, {} cases run, {} failed. Each control links to its policies and to the cases that make it fire and stay quiet, with the decision each received when this page was generated.</p>",
            self.policy_count,
            self.policies.len(),
            self.case_count,
            self.failed
        );
        let _ = writeln!(
            out,
            "<h2>Summary</h2>\n<table>\n<tr><th>article</th><th>sub-item</th><th>controls (cases firing / quiet)</th><th>not decidable at request time</th></tr>"
        );
        for article in &self.notice.articles {
            for item in &article.items {
                let controls: Vec<String> = self
                    .item_controls(item)
                    .map(|(c, _)| {
                        let (fire, quiet) = self.counts(c);
                        format!(
                            "<a href=\"#{}\"><code>{}</code></a> ({fire} / {quiet})",
                            anchor(c),
                            escape(c)
                        )
                    })
                    .collect();
                let duties: Vec<String> =
                    item.undecidable.iter().map(|u| escape(&u.duty)).collect();
                let _ = writeln!(
                    out,
                    "<tr><td>{} {}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    escape(&article.article),
                    escape(&article.title),
                    escape(&item.item),
                    controls.join("<br>"),
                    duties.join("; ")
                );
            }
        }
        let _ = writeln!(out, "</table>");
        let _ = writeln!(
            out,
            "<h2>Closed vocabularies</h2>\n<p>A request or registry entry holding any other value gets no decision (a bad request, or bad entity data), never a value that skips a control.</p>\n<table>\n<tr><th>attribute</th><th>allowed values</th></tr>"
        );
        for (owner, attributes) in &self.vocabularies {
            for (attribute, values) in attributes {
                let _ = writeln!(
                    out,
                    "<tr><td><code>{}.{}</code></td><td>{}</td></tr>",
                    escape(owner),
                    escape(attribute),
                    values
                        .iter()
                        .map(|v| format!("<code>{}</code>", escape(v)))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
        }
        let _ = writeln!(out, "</table>");
        let mut rendered = BTreeSet::new();
        for article in &self.notice.articles {
            let _ = writeln!(
                out,
                "<h2>Article {}: {}</h2>",
                escape(&article.article),
                escape(&article.title)
            );
            for item in &article.items {
                let _ = writeln!(
                    out,
                    "<h3>{}</h3>\n<blockquote><p lang=\"zh\">{}</p><p>{}</p></blockquote>",
                    escape(&item.item),
                    escape(&item.zh),
                    escape(&item.en)
                );
                for (control, findings) in self.item_controls(item) {
                    if !rendered.insert(control) {
                        let _ = writeln!(
                            out,
                            "<p>Decided by <a href=\"#{}\"><code>{}</code></a>, above.</p>",
                            anchor(control),
                            escape(control)
                        );
                        continue;
                    }
                    let _ = writeln!(
                        out,
                        "<h4 id=\"{}\"><code>{}</code> <span class=\"tag\">{}</span> art. {}</h4>",
                        anchor(control),
                        escape(control),
                        severity(findings),
                        escape(&articles(findings))
                    );
                    let _ = writeln!(
                        out,
                        "<table>\n<tr><th>policy</th><th>where</th><th>reason</th><th>obligations</th></tr>"
                    );
                    for f in findings {
                        let path = format!("{}/{}", self.policy_dir, f.file);
                        let line = f.line.unwrap_or(1);
                        let obligations = if f.obligations.is_empty() {
                            String::new()
                        } else {
                            format!(
                                "{}: «<span lang=\"zh\">{}</span>»",
                                escape(&f.obligations.join(", ")),
                                escape(f.obligation_quote.as_deref().unwrap_or_default())
                            )
                        };
                        let _ = writeln!(
                            out,
                            "<tr><td><code>{}</code></td><td><a href=\"{base}{}#L{line}\">{}:{line}</a></td><td>{}<br><span lang=\"zh\">{}</span></td><td>{obligations}</td></tr>",
                            escape(&f.id),
                            escape(&path),
                            escape(&f.file),
                            escape(&f.reason),
                            escape(&f.reason_zh)
                        );
                    }
                    let _ = writeln!(out, "</table>");
                    let (fire, quiet) = self
                        .cases
                        .get(control)
                        .map_or((&[][..], &[][..]), |(f, q)| (f.as_slice(), q.as_slice()));
                    let _ = writeln!(
                        out,
                        "<table>\n<tr><th>case</th><th>expects</th><th>what it shows</th><th>decided</th><th>result</th></tr>"
                    );
                    for (label, rows) in [("fires", fire), ("quiet", quiet)] {
                        if rows.is_empty() {
                            let _ = writeln!(
                                out,
                                "<tr><td colspan=\"5\" class=\"fail\">no case where it {label}</td></tr>"
                            );
                        }
                        for row in rows {
                            let (class, mark) = if row.passed {
                                ("pass", "pass")
                            } else {
                                ("fail", "FAIL")
                            };
                            let _ = writeln!(
                                out,
                                "<tr><td><a href=\"{base}{}\">{}</a></td><td>{label}</td><td>{}</td><td><code>{}</code></td><td class=\"{class}\">{mark}</td></tr>",
                                escape(&row.path),
                                escape(short(&row.path)),
                                escape(&row.description),
                                escape(&row.outcome)
                            );
                        }
                    }
                    let _ = writeln!(out, "</table>");
                }
                if !item.undecidable.is_empty() {
                    let _ = writeln!(
                        out,
                        "<table class=\"undecidable\">\n<tr><th>not decidable at request time</th><th>why</th></tr>"
                    );
                    for u in &item.undecidable {
                        let _ = writeln!(
                            out,
                            "<tr><td>{}</td><td>{}</td></tr>",
                            escape(&u.duty),
                            escape(&u.why)
                        );
                    }
                    let _ = writeln!(out, "</table>");
                }
            }
        }
        let _ = writeln!(out, "</body>\n</html>");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(control: &str) -> Finding {
        Finding {
            id: format!("{control}.x"),
            control: control.to_owned(),
            article: "2".to_owned(),
            reason: "r".to_owned(),
            reason_zh: "理由".to_owned(),
            obligations: Vec::new(),
            obligation_quote: None,
            severity: Severity::Deny,
            file: "a.cedar".to_owned(),
            line: Some(3),
        }
    }

    fn notice(controls: &[&str], undecidable: bool) -> Notice {
        Notice {
            title: "通知".to_owned(),
            title_en: "Notice".to_owned(),
            articles: vec![Article {
                article: "2".to_owned(),
                title: "Licence".to_owned(),
                items: vec![Item {
                    item: "2".to_owned(),
                    zh: "二、……".to_owned(),
                    en: "Two".to_owned(),
                    controls: controls.iter().map(|c| (*c).to_owned()).collect(),
                    properties: Vec::new(),
                    undecidable: if undecidable {
                        vec![Undecidable {
                            duty: "d".to_owned(),
                            why: "w".to_owned(),
                        }]
                    } else {
                        Vec::new()
                    },
                }],
            }],
        }
    }

    #[test]
    fn mapping_must_cover_every_control_both_ways() {
        let policies: BTreeMap<String, Vec<Finding>> =
            [("art2-licence".to_owned(), vec![finding("art2-licence")])].into();
        assert!(check_mapping(&notice(&["art2-licence"], false), &policies).is_ok());
        let err = check_mapping(&notice(&[], true), &policies).unwrap_err();
        assert!(err.to_string().contains("under no sub-item"), "{err}");
        let err = check_mapping(&notice(&["art2-licence", "ghost"], false), &policies).unwrap_err();
        assert!(err.to_string().contains("`ghost`"), "{err}");
        let err = check_mapping(&notice(&[], false), &BTreeMap::new()).unwrap_err();
        assert!(err.to_string().contains("neither a control"), "{err}");
    }

    #[test]
    fn html_escapes_and_links() {
        let mut policies: BTreeMap<String, Vec<Finding>> = BTreeMap::new();
        let mut f = finding("art2-licence");
        f.reason = "<script>".to_owned();
        policies.insert("art2-licence".to_owned(), vec![f]);
        let model = Model {
            notice: notice(&["art2-licence"], true),
            policies,
            cases: BTreeMap::new(),
            actions: [("art2-licence".to_owned(), ["a".to_owned()].into())].into(),
            all_actions: ["a".to_owned(), "b".to_owned()].into(),
            vocabularies: [(
                "Cloud::Tenant".to_owned(),
                [("status".to_owned(), vec!["active".to_owned()])].into(),
            )]
            .into(),
            policy_dir: "policies".to_owned(),
            policy_count: 1,
            case_count: 0,
            failed: 0,
        };
        let html = model.html("../");
        assert!(html.contains("&lt;script&gt;") && !html.contains("<script>"));
        assert!(html.contains("href=\"../policies/a.cedar#L3\""));
        assert!(html.contains("no case where it fires"));
        let md = model.markdown("../");
        assert!(md.contains("[a.cedar:3](../policies/a.cedar#L3)"), "{md}");
        assert!(md.contains("Not decidable at request time"));
        assert!(md.contains("narrow them): a\n"), "{md}");
        assert!(md.contains("| `Cloud::Tenant.status` | `active` |"), "{md}");
        assert!(html.contains("<code>Cloud::Tenant.status</code>"));
    }

    #[test]
    fn cases_are_named_by_folder_and_file() {
        assert_eq!(
            short("tests/cases/art2-licence/a.json"),
            "art2-licence/a.json"
        );
        assert_eq!(short("a.json"), "a.json");
    }

    #[test]
    fn links_climb_out_of_the_report_folder() {
        assert_eq!(link_base(Path::new("docs/controls.md")), "../");
        assert_eq!(link_base(Path::new("controls.md")), "");
        assert_eq!(link_base(Path::new("a/b/c.html")), "../../");
    }
}
