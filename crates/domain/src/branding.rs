//! The storefront's branding rules: a shop name, a tagline, an accent colour readable with white
//! text on it, and footer links that can only go somewhere harmless.

use serde::{Deserialize, Serialize};

use crate::text::has_hidden_controls;

/// A link in the storefront's footer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FooterLink {
    pub label: String,
    pub url: String,
}

/// At most this many footer links.
pub const MAX_FOOTER_LINKS: usize = 8;

/// The shop's name: 1–80 characters of visible text.
pub fn shop_name(raw: &str) -> Result<String, &'static str> {
    let name = raw.trim();
    if name.is_empty() {
        return Err("must not be empty");
    }
    if name.chars().count() > 80 || has_hidden_controls(name) {
        return Err("at most 80 characters, no control characters");
    }
    Ok(name.to_owned())
}

/// A tagline under the name on the home page: up to 160 characters.
pub fn tagline(raw: &str) -> Result<String, &'static str> {
    let line = raw.trim();
    if line.chars().count() > 160 || has_hidden_controls(line) {
        return Err("at most 160 characters, no control characters");
    }
    Ok(line.to_owned())
}

/// WCAG's contrast ratio between a colour (`#rrggbb`) and white.
pub fn contrast_with_white(hex: &str) -> Option<f64> {
    let digits = hex.strip_prefix('#')?;
    if digits.len() != 6 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let channel = |i: usize| {
        let v = f64::from(u8::from_str_radix(&digits[i..i + 2], 16).ok()?) / 255.0;
        Some(if v <= 0.03928 {
            v / 12.92
        } else {
            ((v + 0.055) / 1.055).powf(2.4)
        })
    };
    let l = 0.2126 * channel(0)? + 0.7152 * channel(2)? + 0.0722 * channel(4)?;
    Some(1.05 / (l + 0.05))
}

/// The accent colour: empty for the built-in one, else `#rrggbb` (lower case) dark enough that
/// white text on it, and it as text on white, stay readable (WCAG AA: 4.5:1).
pub fn accent_color(raw: &str) -> Result<Option<String>, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    let hex = raw.to_ascii_lowercase();
    let hex = if hex.starts_with('#') {
        hex
    } else {
        format!("#{hex}")
    };
    match contrast_with_white(&hex) {
        None => Err("must be a colour like #1f4fd1".to_owned()),
        Some(ratio) if ratio < 4.5 => Err(format!(
            "is too light to read white text on (contrast {ratio:.1}:1; at least 4.5:1 is needed)"
        )),
        Some(_) => Ok(Some(hex)),
    }
}

/// A footer link: a label of 1–40 characters and a URL on this site (`/…`), on the web
/// (`https://`, `http://`) or an email address (`mailto:`).
pub fn footer_link(label: &str, url: &str) -> Result<FooterLink, String> {
    let label = label.trim();
    let url = url.trim();
    if label.is_empty() || label.chars().count() > 40 || has_hidden_controls(label) {
        return Err("the label must be 1 to 40 characters".to_owned());
    }
    let local = url.starts_with('/') && !url.starts_with("//") && !url.starts_with("/\\");
    let web = url.starts_with("https://") || url.starts_with("http://");
    if !(local || web || url.starts_with("mailto:"))
        || url.len() > 500
        || url.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(
            "the address must start with /, https://, http:// or mailto: (no spaces)".to_owned(),
        );
    }
    Ok(FooterLink {
        label: label.to_owned(),
        url: url.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accent_colours_must_carry_white_text() {
        assert_eq!(accent_color("").unwrap(), None);
        assert_eq!(accent_color("#1F4FD1").unwrap().as_deref(), Some("#1f4fd1"));
        assert_eq!(accent_color("0b6e4f").unwrap().as_deref(), Some("#0b6e4f"));
        assert!(accent_color("#ffee00").unwrap_err().contains("too light"));
        assert!(accent_color("red").is_err());
        assert!(accent_color("#12345").is_err());
        let black = contrast_with_white("#000000").unwrap();
        assert!((black - 21.0).abs() < 0.01);
    }

    #[test]
    fn footer_links_go_nowhere_harmful() {
        assert!(footer_link("About", "/pages/about").is_ok());
        assert!(footer_link("Help", "https://help.example.com").is_ok());
        assert!(footer_link("Mail", "mailto:shop@example.com").is_ok());
        for bad in [
            "javascript:alert(1)",
            "//evil.example",
            "/\\evil.example",
            "data:text/html,x",
            "/a b",
        ] {
            assert!(footer_link("x", bad).is_err(), "{bad}");
        }
        assert!(footer_link("", "/x").is_err());
    }

    #[test]
    fn names_are_visible_text() {
        assert_eq!(shop_name("  Bazaar ").unwrap(), "Bazaar");
        assert!(shop_name("").is_err());
        assert!(shop_name("a\u{202e}b").is_err());
        assert!(shop_name(&"x".repeat(81)).is_err());
    }
}
