//! Product descriptions are vendor-supplied HTML shown to shoppers: only an allow-list survives.

use std::collections::HashSet;
use std::sync::OnceLock;

fn cleaner() -> &'static ammonia::Builder<'static> {
    static CLEANER: OnceLock<ammonia::Builder<'static>> = OnceLock::new();
    CLEANER.get_or_init(|| {
        let tags: HashSet<&str> = [
            "a",
            "b",
            "blockquote",
            "br",
            "code",
            "em",
            "h1",
            "h2",
            "h3",
            "h4",
            "h5",
            "h6",
            "hr",
            "i",
            "img",
            "li",
            "ol",
            "p",
            "pre",
            "s",
            "small",
            "span",
            "strong",
            "sub",
            "sup",
            "table",
            "tbody",
            "td",
            "th",
            "thead",
            "tr",
            "u",
            "ul",
        ]
        .into_iter()
        .collect();
        let mut b = ammonia::Builder::default();
        b.tags(tags)
            .url_schemes(["http", "https", "mailto"].into_iter().collect())
            .link_rel(Some("noopener noreferrer nofollow"))
            .add_tag_attributes("img", ["src", "alt", "width", "height"])
            .add_tag_attributes("a", ["href", "title"])
            .add_tag_attributes("td", ["colspan", "rowspan"])
            .add_tag_attributes("th", ["colspan", "rowspan"]);
        b
    })
}

/// Removes scripts, event handlers, styles, `javascript:` links and any tag not on the allow-list.
pub fn sanitize(html: &str) -> String {
    cleaner().clean(html).to_string()
}

/// Sanitized HTML with `alt=""` added to every image that has no `alt` (a description's image
/// without one is then decorative to a screen reader, not a file name read aloud). Expects the
/// output of [`sanitize`]: attribute values in double quotes.
pub fn with_image_alts(html: &str) -> String {
    let mut out = String::with_capacity(html.len() + 16);
    let mut rest = html;
    while let Some(at) = rest.find("<img") {
        out.push_str(&rest[..at]);
        let tag_start = &rest[at..];
        // The tag ends at the first `>` outside a quoted value.
        let mut quoted = false;
        let mut end = tag_start.len();
        for (i, c) in tag_start.char_indices() {
            match c {
                '"' => quoted = !quoted,
                '>' if !quoted => {
                    end = i + 1;
                    break;
                }
                _ => {}
            }
        }
        let tag = &tag_start[..end];
        let mut has_alt = false;
        let mut quoted = false;
        let bytes = tag.as_bytes();
        for (i, &b) in bytes.iter().enumerate() {
            match b {
                b'"' => quoted = !quoted,
                b' ' if !quoted && tag[i + 1..].starts_with("alt=") => has_alt = true,
                _ => {}
            }
        }
        if has_alt {
            out.push_str(tag);
        } else {
            out.push_str("<img alt=\"\"");
            out.push_str(&tag[4..]);
        }
        rest = &tag_start[end..];
    }
    out.push_str(rest);
    out
}

/// Plain text of a (sanitized) description, for the search index.
pub fn to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => {
                in_tag = true;
                out.push(' ');
            }
            '>' => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&nbsp;", " ")
}

#[cfg(test)]
mod alt_tests {
    use super::*;

    #[test]
    fn images_without_alt_text_become_decorative() {
        let html = sanitize("<p>a<img src=\"x\" title=\"b>c\">d<img alt=\"Cup\" src=\"y\"></p>");
        let fixed = with_image_alts(&html);
        assert!(
            fixed.contains("<img alt=\"\" src=\"x\" title=\"b&gt;c\">"),
            "{fixed}"
        );
        assert!(fixed.contains("alt=\"Cup\""), "{fixed}");
        assert_eq!(fixed.matches("alt=").count(), 2, "{fixed}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_scripts_and_handlers_keeps_formatting() {
        let dirty = r#"<p onclick="x()">Soft <b>cotton</b><script>alert(1)</script><a href="javascript:alert(1)">x</a><img src="https://cdn.example/a.png" onerror="y()"></p>"#;
        let clean = sanitize(dirty);
        assert!(!clean.contains("script"));
        assert!(!clean.contains("onclick"));
        assert!(!clean.contains("onerror"));
        assert!(!clean.contains("javascript"));
        assert!(clean.contains("<b>cotton</b>"));
        assert!(clean.contains(r#"src="https://cdn.example/a.png""#));
    }

    #[test]
    fn text_for_search() {
        assert_eq!(
            to_text("<p>Soft &amp; <b>warm</b></p>")
                .split_whitespace()
                .collect::<Vec<_>>(),
            ["Soft", "&", "warm"]
        );
    }
}
