//! The home page's sales chart: an SVG drawn on the server (no script, no library), one bar per
//! day. It prints only numbers and dates it made itself, so it is marked safe to embed.

use std::fmt::Write;

use souk_app::dashboard::DaySales;

const WIDTH: i64 = 600;
const HEIGHT: i64 = 160;
/// Room under the bars for the first and last day's dates.
const AXIS: i64 = 18;

/// `YYYY-MM-DD` of a day.
fn date(day_ms: i64) -> String {
    souk_domain::time::rfc3339(day_ms)
        .get(..10)
        .unwrap_or_default()
        .to_owned()
}

/// The chart, with a text summary for screen readers (`role="img"` and its `<title>`).
pub fn sales_svg(days: &[DaySales], currency: &str) -> String {
    let max = days.iter().map(|d| d.total).max().unwrap_or(0).max(1);
    let sum: i64 = days.iter().map(|d| d.total).fold(0, i64::saturating_add);
    let orders: i64 = days.iter().map(|d| d.orders).fold(0, i64::saturating_add);
    let count = days.len().max(1) as i64;
    let slot = WIDTH / count;
    let bars = HEIGHT - AXIS;
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg class=\"chart\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" \
         aria-labelledby=\"chart-title\">\
         <title id=\"chart-title\">Sales per day over the last {} days: {} orders, {}</title>",
        days.len(),
        orders,
        crate::web::money_text(sum, currency)
    );
    for (i, d) in days.iter().enumerate() {
        // Scaled in integers; a day with sales shows at least a sliver.
        let height = if d.total > 0 {
            (d.total.saturating_mul(bars) / max).max(2)
        } else {
            0
        };
        let _ = write!(
            svg,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{height}\">\
             <title>{}: {} orders, {}</title></rect>",
            i as i64 * slot + 1,
            bars - height,
            (slot - 2).max(1),
            date(d.day_ms),
            d.orders,
            crate::web::money_text(d.total, currency)
        );
    }
    if let (Some(first), Some(last)) = (days.first(), days.last()) {
        let _ = write!(
            svg,
            "<line x1=\"0\" y1=\"{bars}\" x2=\"{WIDTH}\" y2=\"{bars}\"/>\
             <text x=\"0\" y=\"{HEIGHT}\">{}</text>\
             <text x=\"{WIDTH}\" y=\"{HEIGHT}\" text-anchor=\"end\">{}</text>",
            date(first.day_ms),
            date(last.day_ms)
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_busiest_day_fills_the_chart_and_an_empty_day_has_no_bar() {
        let day = 86_400_000;
        let days = [
            DaySales {
                day_ms: 20_000 * day,
                orders: 0,
                total: 0,
            },
            DaySales {
                day_ms: 20_001 * day,
                orders: 4,
                total: 10_000,
            },
            DaySales {
                day_ms: 20_002 * day,
                orders: 1,
                total: 1,
            },
        ];
        let svg = sales_svg(&days, "EUR");
        assert!(svg.contains("height=\"0\""), "{svg}");
        assert!(
            svg.contains(&format!("height=\"{}\"", HEIGHT - AXIS)),
            "{svg}"
        );
        assert!(
            svg.contains("height=\"2\""),
            "a tiny day still shows: {svg}"
        );
        assert!(svg.contains("5 orders, 100.01 EUR"), "{svg}");
        assert!(svg.contains("2024-10-04"), "{svg}");
    }
}
