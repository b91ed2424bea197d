//! Rules for short text people type (names, addresses, notes).

/// Whether `c` must not appear in a name, address or note: control characters, and the
/// Unicode bidirectional controls (U+202A–U+202E, U+2066–U+2069, U+061C, U+200E, U+200F)
/// that make text display in another order than it is stored ("Trojan Source" spoofing of
/// names in emails, admin pages and CSV exports).
pub fn is_hidden_control(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{061C}' | '\u{200E}' | '\u{200F}')
}

/// Whether `s` holds any [`is_hidden_control`] character.
pub fn has_hidden_controls(s: &str) -> bool {
    s.chars().any(is_hidden_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bidi_overrides_and_isolates_are_hidden_controls() {
        for c in [
            '\u{202A}', '\u{202E}', '\u{2066}', '\u{2069}', '\n', '\u{0}',
        ] {
            assert!(is_hidden_control(c), "{:?}", c);
        }
        assert!(!has_hidden_controls("Zoë Ørsted, 東京"));
        assert!(has_hidden_controls("evil\u{202E}gnp.exe"));
    }
}
