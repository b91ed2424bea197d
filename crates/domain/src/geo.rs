//! Countries (ISO 3166-1 alpha-2) and their subdivisions (ISO 3166-2), so that rules keyed by
//! place (tax rates) match however a shopper spells the place: `CA`, `ca.`, ` C A`, `US-CA` and
//! `California` are all the subdivision `CA` of `US`. Subdivisions can have a parent (a Spanish
//! province in its autonomous community, a French overseas department in its region): a rule
//! keyed on the parent applies to its parts. The list comes from Debian's iso-codes
//! (data/iso3166.tsv).

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use unicode_normalization::UnicodeNormalization;

const DATA: &str = include_str!("../data/iso3166.tsv");

struct Subdivision {
    code: &'static str,
    name: &'static str,
    parent: Option<&'static str>,
    folded_code: String,
    folded_name: String,
}

struct Places {
    countries: HashSet<&'static str>,
    /// (code, name) of every country, by name.
    named: Vec<(&'static str, &'static str)>,
    /// Country → its subdivisions, in code order.
    subdivisions: HashMap<&'static str, Vec<Subdivision>>,
}

fn places() -> &'static Places {
    static PLACES: OnceLock<Places> = OnceLock::new();
    PLACES.get_or_init(|| {
        let mut places = Places {
            countries: HashSet::new(),
            named: Vec::new(),
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
                places.named.push((country, name));
            } else {
                places
                    .subdivisions
                    .entry(country)
                    .or_default()
                    .push(Subdivision {
                        code,
                        name,
                        parent: cols.next().filter(|p| !p.is_empty()),
                        folded_code: fold(code),
                        folded_name: fold(name),
                    });
            }
        }
        places.named.sort_by_key(|(_, name)| fold(name));
        places
    })
}

/// Every country as (ISO code, English name), by name: the choices of an address form.
pub fn countries() -> &'static [(&'static str, &'static str)] {
    &places().named
}

/// The subdivisions of `country` as (code, name), in code order.
pub fn subdivisions(country: &str) -> Vec<(&'static str, &'static str)> {
    places()
        .subdivisions
        .get(country)
        .map(|list| list.iter().map(|s| (s.code, s.name)).collect())
        .unwrap_or_default()
}

/// Whether `code` is an ISO 3166-1 alpha-2 country code (upper case).
pub fn is_country(code: &str) -> bool {
    places().countries.contains(code)
}

/// Letters and digits only, lower case, accents removed (`Mahārāshtra` = `maharashtra`): how
/// spellings are compared.
fn fold(s: &str) -> String {
    s.nfkd()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The ISO 3166-2 subdivision code (the part after `CC-`, e.g. `CA`) that `raw` names in
/// `country`: its code in any case and spacing, with or without the country prefix, or its
/// name (accents optional). A name two places share is resolved only when one contains the
/// other (the region is chosen over its department of the same name); otherwise it is
/// ambiguous and `None`, like a name that matches nothing.
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
    if let Some(s) = list.iter().find(|s| s.folded_code == wanted) {
        return Some(s.code);
    }
    let named: Vec<&Subdivision> = list.iter().filter(|s| s.folded_name == wanted).collect();
    match named.as_slice() {
        [one] => Some(one.code),
        [] => None,
        several => several
            .iter()
            .find(|s| {
                several
                    .iter()
                    .all(|o| o.code == s.code || o.parent == Some(s.code))
            })
            .map(|s| s.code),
    }
}

/// The subdivision `code` of `country` belongs to (`ES`/`GC` → `CN`), if any.
pub fn parent(country: &str, code: &str) -> Option<&'static str> {
    places()
        .subdivisions
        .get(country)?
        .iter()
        .find(|s| s.code == code)
        .and_then(|s| s.parent)
}

/// The subdivision codes of `country`, comma-separated, for error messages.
pub fn subdivision_codes(country: &str) -> String {
    places()
        .subdivisions
        .get(country)
        .map(|list| list.iter().map(|s| s.code).collect::<Vec<_>>().join(", "))
        .unwrap_or_default()
}

/// The name of subdivision `code` of `country`.
pub fn subdivision_name(country: &str, code: &str) -> Option<&'static str> {
    places()
        .subdivisions
        .get(country)?
        .iter()
        .find(|s| s.code == code)
        .map(|s| s.name)
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

    #[test]
    fn accents_are_optional_and_levels_resolve_to_the_containing_region() {
        assert_eq!(subdivision("IN", "Maharashtra"), subdivision("IN", "MH"));
        assert!(subdivision("IN", "Maharashtra").is_some());
        // Guadeloupe is both a region (GP) and its department (971): the region.
        assert_eq!(subdivision("FR", "Guadeloupe"), Some("GP"));
        assert_eq!(parent("FR", "971"), Some("GP"));
        assert_eq!(parent("ES", "GC"), Some("CN"));
        assert_eq!(parent("US", "CA"), None);
        assert_eq!(subdivision_name("US", "CA"), Some("California"));
    }
}
