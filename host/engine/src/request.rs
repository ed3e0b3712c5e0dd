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

/// How far a caller's `context.now` may be from the server's clock (seconds).
pub const MAX_CLOCK_SKEW_SECS: i64 = 300;

/// The servers' `context.now`: the server's clock decides. A caller's `now` is accepted only
/// within [`MAX_CLOCK_SKEW_SECS`] of `server_secs` (and then replaced by the server's time, so
/// nothing turns on it); further away, or not a Cedar datetime, it is an error naming it. The
/// CLI harness (`yungui decide`, `yungui test`) honours a request's `now` and does not use this.
pub fn server_now(caller: Option<&Value>, server_secs: u64) -> Result<String, String> {
    let server = format_utc(server_secs);
    let Some(caller) = caller else {
        return Ok(server);
    };
    // A datetime as a string or in Cedar's `__extn` form.
    let text = caller.as_str().or_else(|| {
        caller
            .pointer("/__extn/arg")
            .filter(|_| caller.pointer("/__extn/fn").and_then(Value::as_str) == Some("datetime"))
            .and_then(Value::as_str)
    });
    let Some(secs) = text.and_then(parse_datetime) else {
        return Err(format!(
            "`context.now` is `{caller}`, not a datetime like `2026-11-30T08:00:00Z`: leave it out, the server's clock decides"
        ));
    };
    let server_i = i64::try_from(server_secs).unwrap_or(i64::MAX);
    if secs.abs_diff(server_i) > MAX_CLOCK_SKEW_SECS.unsigned_abs() {
        return Err(format!(
            "`context.now` is `{}`, more than {MAX_CLOCK_SKEW_SECS} s from the server's clock (`{server}`): leave it out, the server's clock decides",
            text.unwrap_or_default()
        ));
    }
    Ok(server)
}

/// A Cedar datetime (`2026-11-30`, `2026-11-30T08:00:00Z`, with `.SSS` milliseconds, or with a
/// `+hhmm`/`-hhmm` offset instead of `Z`) as seconds since the epoch.
pub fn parse_datetime(text: &str) -> Option<i64> {
    use time::macros::format_description;
    use time::{Date, OffsetDateTime, PrimitiveDateTime};
    if let Ok(date) = Date::parse(text, format_description!("[year]-[month]-[day]")) {
        return Some(date.midnight().assume_utc().unix_timestamp());
    }
    let utc = [
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z"),
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"),
    ];
    for format in utc {
        if let Ok(at) = PrimitiveDateTime::parse(text, format) {
            return Some(at.assume_utc().unix_timestamp());
        }
    }
    let offset = [
        format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second][offset_hour sign:mandatory][offset_minute]"
        ),
        format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3][offset_hour sign:mandatory][offset_minute]"
        ),
    ];
    offset
        .into_iter()
        .find_map(|format| OffsetDateTime::parse(text, format).ok())
        .map(OffsetDateTime::unix_timestamp)
}

/// Seconds since the epoch, now.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
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
    fn reads_cedar_datetimes() {
        let at = 1_795_000_000;
        assert_eq!(parse_datetime("2026-11-18T11:06:40Z"), Some(at));
        assert_eq!(parse_datetime("2026-11-18T11:06:40.999Z"), Some(at));
        assert_eq!(parse_datetime("2026-11-18T19:06:40+0800"), Some(at));
        assert_eq!(parse_datetime("2026-11-18T19:06:40.000+0800"), Some(at));
        assert_eq!(
            parse_datetime("2026-11-18"),
            Some(at - 11 * 3600 - 6 * 60 - 40)
        );
        for bad in ["2026-11-18T11:06:40", "yesterday", "2026-13-01", ""] {
            assert_eq!(parse_datetime(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_server_clock_decides() {
        let server = 1_795_000_000;
        assert_eq!(server_now(None, server).unwrap(), "2026-11-18T11:06:40Z");
        // Within the skew: the server's time is used all the same.
        let near = Value::String("2026-11-18T11:04:00Z".to_owned());
        assert_eq!(
            server_now(Some(&near), server).unwrap(),
            "2026-11-18T11:06:40Z"
        );
        let extn =
            serde_json::json!({"__extn": {"fn": "datetime", "arg": "2026-11-18T19:08:00+0800"}});
        assert!(server_now(Some(&extn), server).is_ok());
        // A backdated or future clock is refused, naming it and the bound.
        for far in ["2020-01-01T00:00:00Z", "2027-03-01T00:00:00Z", "2026-11-18"] {
            let err = server_now(Some(&Value::String(far.to_owned())), server).unwrap_err();
            assert!(err.contains(far) && err.contains("300 s"), "{err}");
        }
        let err = server_now(Some(&serde_json::json!(17)), server).unwrap_err();
        assert!(err.contains("`17`"), "{err}");
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
