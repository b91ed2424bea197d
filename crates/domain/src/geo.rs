//! Countries (ISO 3166-1 alpha-2) and their subdivisions (ISO 3166-2), so that rules keyed by
//! place (tax rates) match however a shopper spells the place: `CA`, `ca.`, ` C A`, `US-CA` and
//! `California` are all the subdivision `CA` of `US`. The list comes from Debian's iso-codes
//! (data/iso3166.tsv).

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

const DATA: &str = include_str!("../data/iso3166.tsv");

struct Places {
    countries: HashSet<&'static str>,
    /// Country → its subdivisions' (code, name), in code order.
    subdivisions: HashMap<&'static str, Vec<(&'static str, &'static str)>>,
}

fn places() -> &'static Places {
    static PLACES: OnceLock<Places> = OnceLock::new();
    PLACES.get_or_init(|| {
        let mut places = Places {
            countries: HashSet::new(),
            subdivisions: HashMap::new(),
        };
        for line in DATA.lines().filter(|l| !l.starts_with('#')) {
            let mut cols = line.split('\t');
            let (Some(country), Some(code), Some(name)) = (cols.next(), cols.next(), cols.next())
            else {
                continue;
            };
            if code.is_empty() {
                places.countries.insert(country);
            } else {
                places
                    .subdivisions
                    .entry(country)
                    .or_default()
                    .push((code, name));
            }
        }
        places
    })
}

/// Whether `code` is an ISO 3166-1 alpha-2 country code (upper case).
pub fn is_country(code: &str) -> bool {
    places().countries.contains(code)
}

/// Letters and digits only, lower case: how spellings are compared.
fn fold(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The ISO 3166-2 subdivision code (the part after `CC-`, e.g. `CA`) that `raw` names in
/// `country`: its code in any case and spacing, with or without the country prefix, or its
/// name. `None` when nothing matches.
pub fn subdivision(country: &str, raw: &str) -> Option<&'static str> {
    let list = places().subdivisions.get(country)?;
    let mut wanted = fold(raw);
    let prefixed = raw
        .trim()
        .split_once('-')
        .filter(|(cc, _)| cc.trim().eq_ignore_ascii_case(country));
    if let Some((_, rest)) = prefixed {
        wanted = fold(rest);
    }
    if wanted.is_empty() {
        return None;
    }
    list.iter()
        .find(|(code, _)| fold(code) == wanted)
        .or_else(|| list.iter().find(|(_, name)| fold(name) == wanted))
        .map(|(code, _)| *code)
}

/// The subdivision codes of `country`, comma-separated, for error messages.
pub fn subdivision_codes(country: &str) -> String {
    places()
        .subdivisions
        .get(country)
        .map(|list| {
            list.iter()
                .map(|(code, _)| *code)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_a_region_finds_its_code() {
        for raw in [
            "CA",
            "ca",
            "ca.",
            " C A",
            "US-CA",
            "us-ca",
            "California",
            "CALIFORNIA",
        ] {
            assert_eq!(subdivision("US", raw), Some("CA"), "{raw:?}");
        }
        assert_eq!(subdivision("DE", "Berlin"), Some("BE"));
        assert_eq!(subdivision("DE", "be"), Some("BE"));
        assert_eq!(subdivision("US", "Narnia"), None);
        assert_eq!(subdivision("US", ""), None);
        assert!(is_country("US") && is_country("DE") && !is_country("XX"));
        assert!(subdivision_codes("US").contains("CA, CO"));
    }
}
