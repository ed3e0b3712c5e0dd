//! The notice's calendar: China Standard Time (UTC+8, `Asia/Shanghai`, no daylight saving since
//! 1991, so a fixed offset is exact). The engine names the month of a notice date itself, so the
//! three calendar months of art. 9(6) never rest on a month the caller chose.

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};

/// Seconds east of UTC of the notice's calendar.
const BEIJING: i32 = 8 * 3600;

/// The Beijing calendar month (`YYYY-MM`) of a Cedar `datetime` value as Cedar prints it: the
/// constructor as written (`datetime("2026-01-31T20:00:00Z")`, any of Cedar's datetime forms), or
/// the canonical `datetime("1970-01-01").offset(duration("<ms>ms"))`.
pub fn beijing_month(cedar_datetime: &str) -> Result<String, String> {
    let unreadable = || format!("cannot read the datetime `{cedar_datetime}`");
    let zone =
        FixedOffset::east_opt(BEIJING).ok_or_else(|| "the UTC+8 offset is invalid".to_owned())?;
    let instant = if let Some(millis) = cedar_datetime
        .strip_prefix("datetime(\"1970-01-01\").offset(duration(\"")
        .and_then(|rest| rest.strip_suffix("ms\"))"))
    {
        let millis = millis.parse::<i64>().map_err(|_| unreadable())?;
        DateTime::from_timestamp_millis(millis).ok_or_else(unreadable)?
    } else {
        let text = cedar_datetime
            .strip_prefix("datetime(\"")
            .and_then(|rest| rest.strip_suffix("\")"))
            .ok_or_else(unreadable)?;
        parse(text).ok_or_else(unreadable)?
    };
    Ok(instant.with_timezone(&zone).format("%Y-%m").to_string())
}

/// Cedar's datetime forms: `YYYY-MM-DD`, then optionally `Thh:mm:ss`, optional `.SSS`, and `Z`
/// or `+hhmm` / `-hhmm`.
fn parse(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return date.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    }
    let with_offset = match text.strip_suffix('Z') {
        Some(utc) => format!("{utc}+0000"),
        None => text.to_owned(),
    };
    DateTime::parse_from_str(&with_offset, "%Y-%m-%dT%H:%M:%S%.f%z")
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use cedar_policy::{Entity, EvalResult};

    use super::*;

    /// The month Cedar's own parser and our reading give for a datetime string.
    fn month_of(text: &str) -> String {
        let json = serde_json::json!({
            "uid": {"type": "S", "id": "s"},
            "attrs": {"at": {"__extn": {"fn": "datetime", "arg": text}}},
            "parents": []
        });
        let entity = Entity::from_json_value(json, None).unwrap();
        match entity.attr("at") {
            Some(Ok(EvalResult::ExtensionValue(repr))) => beijing_month(&repr).unwrap(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn months_are_beijing_months() {
        assert_eq!(month_of("2026-01-31"), "2026-01");
        assert_eq!(month_of("2026-01-31T15:59:59Z"), "2026-01");
        assert_eq!(month_of("2026-01-31T16:00:00Z"), "2026-02");
        assert_eq!(month_of("2026-02-01T03:00:00+0800"), "2026-02");
        assert_eq!(month_of("2027-12-31T16:00:00.000Z"), "2028-01");
        assert_eq!(month_of("1969-12-31T12:00:00Z"), "1969-12");
        assert_eq!(month_of("1969-12-31T16:00:00Z"), "1970-01");
        let _ = cedar_policy::EntityUid::from_str("Cloud::Month::\"2026-01\"").unwrap();
    }

    #[test]
    fn the_canonical_form_is_read_too() {
        // 2026-01-31T16:00:00Z
        let repr = "datetime(\"1970-01-01\").offset(duration(\"1769875200000ms\"))";
        assert_eq!(beijing_month(repr).unwrap(), "2026-02");
    }

    /// The policies count days in the zone the engine counts months in: every duration literal
    /// they offset a datetime by is this offset.
    #[test]
    fn the_policies_count_in_the_same_zone() {
        let expected = format!("offset(duration(\"{}h\"))", BEIJING / 3600);
        let mut found = 0;
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies");
        let sources = yungui_policies::Sources::read_dir(&dir).unwrap();
        for file in &sources.policies {
            let (name, text) = (&file.name, &file.text);
            for (at, _) in text.match_indices("offset(duration(") {
                let rest = text.get(at..).unwrap_or_default();
                assert!(
                    rest.starts_with(&expected),
                    "{name}: `{}` is not the calendar's offset `{expected}`",
                    rest.lines().next().unwrap_or_default()
                );
                found += 1;
            }
        }
        assert!(found >= 10, "only {found} day comparisons found");
    }

    #[test]
    fn anything_else_is_an_error() {
        assert!(beijing_month("datetime(\"2026-13-01\")").is_err());
        assert!(beijing_month("42").is_err());
    }
}
