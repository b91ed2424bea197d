//! A search that matches nothing because of a one-letter slip ("lantren", "cushon") is tried
//! again with the slip corrected, when exactly that correction is a word of some product's
//! title.
//!
//! The known words are kept in `search_words` (every title word of 4+ letters, added by every
//! product write). A search term of 5+ ASCII letters or digits that begins no known word is
//! replaced by a known word one edit away — a letter swapped with the next, changed, left out or
//! added — preferring them in that order, then alphabetically. The caller searches again with
//! the corrected terms and says so (`corrected_q`); nothing is corrected when the search found
//! something, so a correct rare word is never replaced by a common one.

use souk_domain::catalog::Product;
use souk_domain::catalog::search_terms;

use super::list::{ListQuery, Page, list_products};
use crate::db::Arg;
use crate::{Db, StorageError, Tx};

/// The shortest term that is corrected; shorter words have too many neighbours.
const MIN_LEN: usize = 5;
/// The shortest title word remembered.
const MIN_WORD: usize = 4;
const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// Remembers the words of `titles` (in the caller's transaction).
pub(crate) async fn remember_title_words(tx: &mut Tx, titles: &[&str]) -> Result<(), StorageError> {
    let mut words: Vec<String> = titles
        .iter()
        .flat_map(|t| search_terms(t))
        .filter(|w| w.chars().count() >= MIN_WORD)
        .collect();
    words.sort();
    words.dedup();
    if words.is_empty() {
        return Ok(());
    }
    let values = (1..=words.len())
        .map(|i| format!("(${i})"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql =
        format!("INSERT INTO search_words (word) VALUES {values} ON CONFLICT (word) DO NOTHING");
    let args: Vec<Arg> = words.into_iter().map(Arg::Text).collect();
    {
        crate::sql::query(sql)
            .bind_all(args)
            .execute(&mut *tx)
            .await?;
    };
    Ok(())
}

/// Every string one edit away from `term`, in order of preference.
fn one_edit_away(term: &str) -> Vec<String> {
    let b = term.as_bytes();
    let mut out = Vec::new();
    let mut push = |v: Vec<u8>| {
        let s = String::from_utf8(v).expect("ASCII in, ASCII out");
        if s != term && !out.contains(&s) {
            out.push(s);
        }
    };
    for i in 0..b.len().saturating_sub(1) {
        let mut v = b.to_vec();
        v.swap(i, i + 1);
        push(v);
    }
    for i in 0..b.len() {
        for &c in ALPHABET {
            let mut v = b.to_vec();
            v[i] = c;
            push(v);
        }
    }
    for i in 0..b.len() {
        let mut v = b.to_vec();
        v.remove(i);
        push(v);
    }
    for i in 0..=b.len() {
        for &c in ALPHABET {
            let mut v = b.to_vec();
            v.insert(i, c);
            push(v);
        }
    }
    out
}

/// Whether some known word begins with `term`.
async fn begins_a_word(db: &Db, term: &str) -> Result<bool, StorageError> {
    // One range of the primary key (byte order on both databases).
    let end = format!("{term}{}", char::MAX);
    let found: Option<String> = crate::sql::query_scalar(
        "SELECT word FROM search_words WHERE word >= $1 AND word < $2 LIMIT 1",
    )
    .bind(term)
    .bind(&end)
    .fetch_optional(db)
    .await?;
    Ok(found.is_some())
}

/// The known word one edit away from `term`, if any.
async fn nearest_word(db: &Db, term: &str) -> Result<Option<String>, StorageError> {
    let candidates = one_edit_away(term);
    let placeholders = (1..=candidates.len())
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!("SELECT word FROM search_words WHERE word IN ({placeholders})");
    let args: Vec<Arg> = candidates.iter().cloned().map(Arg::Text).collect();
    let known: Vec<String> = crate::sql::query_scalar(sql)
        .bind_all(args)
        .fetch_all(db)
        .await?;
    Ok(candidates.into_iter().find(|c| known.contains(c)))
}

/// `query` with its misspelt search terms corrected, when at least one was; `None` otherwise.
/// For a search that found nothing.
pub async fn corrected_search(
    db: &Db,
    query: &ListQuery,
) -> Result<Option<ListQuery>, StorageError> {
    let Some(q) = query.search.as_deref() else {
        return Ok(None);
    };
    let mut terms = search_terms(q);
    let mut corrected = false;
    for term in &mut terms {
        let fixable = term.len() >= MIN_LEN
            && term.len() <= 32
            && term.bytes().all(|b| ALPHABET.contains(&b));
        if !fixable || begins_a_word(db, term).await? {
            continue;
        }
        if let Some(word) = nearest_word(db, term).await? {
            *term = word;
            corrected = true;
        }
    }
    Ok(corrected.then(|| ListQuery {
        search: Some(terms.join(" ")),
        ..query.clone()
    }))
}

/// A listing page, and the search it is for when `q` found nothing and its correction did.
#[derive(Debug, Clone)]
pub struct SearchPage {
    pub page: Page<Product>,
    pub corrected_q: Option<String>,
}

/// [`list_products`], then, when a search found nothing, the same with its slips corrected
/// (see the module). Later pages carry the original `q` and their cursor: they are corrected
/// the same way, since the original still finds nothing.
pub async fn search_products(db: &Db, query: &ListQuery) -> Result<SearchPage, StorageError> {
    let page = list_products(db, query).await?;
    if page.items.is_empty()
        && let Some(corrected) = corrected_search(db, query).await?
    {
        let retried = list_products(db, &corrected).await?;
        if !retried.items.is_empty() || query.cursor.is_some() {
            return Ok(SearchPage {
                page: retried,
                corrected_q: corrected.search,
            });
        }
    }
    Ok(SearchPage {
        page,
        corrected_q: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_edits_of_a_word_come_swaps_first_and_hold_the_usual_slips() {
        let edits = one_edit_away("lantren");
        assert_eq!(edits[0], "alntren", "swaps first");
        for slip in ["lantern", "lanren", "lantrens", "lanteen"] {
            assert!(edits.contains(&slip.to_owned()), "{slip}");
        }
        assert!(!edits.contains(&"lantren".to_owned()));
        let n = "lantren".len();
        assert!(edits.len() <= (n - 1) + n * 36 + n + (n + 1) * 36);
    }
}
