//! Helpers for requests in the JSON request format.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// Fills `context.now` with `now` when the request does not carry it: the component has no
/// clock. The request must be a JSON object; anything else is left for the component to reject.
pub fn fill_now(request: &str, now: &str) -> Result<String, serde_json::Error> {
    let mut value: Value = serde_json::from_str(request)?;
    if let Value::Object(map) = &mut value {
        let context = map
            .entry("context")
            .or_insert_with(|| Value::Object(serde_json::Map::new()));
        if let Value::Object(context) = context {
            context
                .entry("now")
                .or_insert_with(|| Value::String(now.to_owned()));
        }
    }
    serde_json::to_string(&value)
}

/// The current time as a Cedar datetime string, `YYYY-MM-DDThh:mm:ssZ`.
pub fn now_utc() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format_utc(secs)
}

/// Seconds since the epoch as `YYYY-MM-DDThh:mm:ssZ`.
pub fn format_utc(secs: u64) -> String {
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_dates() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_utc(1_795_000_000), "2026-11-18T11:06:40Z");
    }

    #[test]
    fn fills_now_only_when_absent() {
        let filled = fill_now(r#"{"action": "x"}"#, "2026-01-01").unwrap();
        assert!(filled.contains(r#""now":"2026-01-01""#), "{filled}");
        let kept = fill_now(r#"{"context": {"now": "2020-01-01"}}"#, "2026-01-01").unwrap();
        assert!(
            kept.contains("2020-01-01") && !kept.contains("2026"),
            "{kept}"
        );
        assert!(fill_now("not json", "x").is_err());
    }
}
