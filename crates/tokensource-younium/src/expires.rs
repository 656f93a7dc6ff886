//! Younium's `expires` field: an RFC 1123 date whose weekday may be wrong.

use std::time::SystemTime;

const SHORT_DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const LONG_DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// Parses an HTTP date (RFC 1123 / IMF-fixdate, RFC 850 or asctime), ignoring the weekday.
///
/// Younium's documented examples carry the wrong weekday for their date ("Thu, 21 Sep 2025" was a
/// Sunday), which a strict parser rejects. The date itself is what matters, so when the strict
/// parse fails the weekday is replaced by each day name in turn; the one that matches the date
/// succeeds.
pub(crate) fn parse_http_date_ignoring_weekday(text: &str) -> Option<SystemTime> {
    let text = text.trim();
    if let Ok(time) = httpdate::parse_http_date(text) {
        return Some(time);
    }
    let (_, rest) = text.split_once(", ")?;
    SHORT_DAYS
        .iter()
        .chain(LONG_DAYS.iter())
        .find_map(|day| httpdate::parse_http_date(&format!("{day}, {rest}")).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn documented_examples_with_wrong_weekdays() {
        // 2025-09-21 11:12:01 UTC was a Sunday; the page says Thursday.
        assert_eq!(
            parse_http_date_ignoring_weekday("Thu, 21 Sep 2025 11:12:01 GMT"),
            Some(UNIX_EPOCH + Duration::from_secs(1_758_453_121))
        );
        // 2024-03-21 was indeed a Thursday.
        assert_eq!(
            parse_http_date_ignoring_weekday("Thu, 21 Mar 2024 11:12:01 GMT"),
            Some(UNIX_EPOCH + Duration::from_secs(1_711_019_521))
        );
        assert_eq!(
            parse_http_date_ignoring_weekday("Monday, 21-Sep-25 11:12:01 GMT"),
            Some(UNIX_EPOCH + Duration::from_secs(1_758_453_121))
        );
    }

    #[test]
    fn rejects_non_dates() {
        for bad in [
            "",
            "tomorrow",
            "Sun, 31 Feb 2025 11:12:01 GMT",
            "Sun, 21 Sep 2025 25:12:01 GMT",
            "Xyz, 21 Sep 2025",
            "2025-09-21T11:12:01Z",
            "Sun, 21 Sep 2025 11:12:01 GMT ünïcode",
        ] {
            assert_eq!(parse_http_date_ignoring_weekday(bad), None, "{bad}");
        }
    }
}
