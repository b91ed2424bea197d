//! Reading what people type into the panel's forms: percentages, dates, optional numbers.

/// Basis points as a percentage for people: 1250 → "12.5".
pub fn percent(bps: i64) -> String {
    let text = format!("{}.{:02}", bps / 100, bps % 100);
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// "12.5" or "12.5 %" → 1250 basis points; at most two decimals.
pub fn parse_percent(text: &str) -> Option<i64> {
    let text = text.trim().trim_end_matches('%').trim();
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| !s.is_empty() && s.len() <= 3 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || frac.len() > 2 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let frac: i64 = format!("{frac:0<2}").parse().ok()?;
    whole
        .parse::<i64>()
        .ok()?
        .checked_mul(100)?
        .checked_add(frac)
}

/// `YYYY-MM-DD` as the RFC 3339 time of its first (`end: false`) or last second, UTC.
pub fn date_bound(date: &str, end: bool) -> Option<String> {
    let date = date.trim();
    let time = if end { "23:59:59" } else { "00:00:00" };
    let text = format!("{date}T{time}Z");
    (date.len() == 10 && souk_domain::time::parse_rfc3339(&text).is_some()).then_some(text)
}

/// An optional whole number: `Ok(None)` when blank.
pub fn optional_count(text: &str) -> Result<Option<i64>, ()> {
    match text.trim() {
        "" => Ok(None),
        t => t.parse::<i64>().map(Some).map_err(|_| ()),
    }
}

#[cfg(test)]
mod tests {
    use super::{date_bound, optional_count, parse_percent, percent};

    #[test]
    fn percentages_read_and_print_as_basis_points() {
        assert_eq!(parse_percent("12.5"), Some(1250));
        assert_eq!(parse_percent(" 7 % "), Some(700));
        assert_eq!(parse_percent("0.05"), Some(5));
        assert_eq!(parse_percent("100"), Some(10_000));
        for bad in ["", "-1", "1.234", "abc", "1e3", "1000.1.1", "."] {
            assert_eq!(parse_percent(bad), None, "{bad}");
        }
        assert_eq!(percent(1250), "12.5");
        assert_eq!(percent(700), "7");
        assert_eq!(percent(5), "0.05");
    }

    #[test]
    fn dates_and_counts_read_as_typed() {
        assert_eq!(
            date_bound("2026-12-31", true).as_deref(),
            Some("2026-12-31T23:59:59Z")
        );
        assert_eq!(
            date_bound("2026-12-31", false).as_deref(),
            Some("2026-12-31T00:00:00Z")
        );
        assert_eq!(date_bound("31/12/2026", false), None);
        assert_eq!(date_bound("2026-13-01", false), None);
        assert_eq!(optional_count(" "), Ok(None));
        assert_eq!(optional_count("12"), Ok(Some(12)));
        assert!(optional_count("twelve").is_err());
    }
}
