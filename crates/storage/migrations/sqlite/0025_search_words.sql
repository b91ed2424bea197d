-- The words of product titles, for correcting a shopper's one-letter slip in a search that
-- matches nothing (see crates/storage/src/catalog/typos.rs). Only ever added to (by every
-- product write): a word whose last product is gone stays, and a correction to it finds
-- nothing and is not offered.
CREATE TABLE search_words (
    word TEXT PRIMARY KEY NOT NULL
);

-- The titles already there, split on spaces and common punctuation (new titles are split by
-- the application, on anything that is not a letter or digit).
WITH RECURSIVE split(rest, word) AS (
    SELECT lower(replace(replace(replace(replace(replace(replace(replace(
               title, '-', ' '), '/', ' '), ',', ' '), '.', ' '), '''', ' '), '(', ' '), ')', ' ')) || ' ',
           NULL
      FROM products
    UNION ALL
    SELECT substr(rest, instr(rest, ' ') + 1), substr(rest, 1, instr(rest, ' ') - 1)
      FROM split
     WHERE rest <> ''
)
INSERT OR IGNORE INTO search_words (word)
SELECT DISTINCT word FROM split WHERE length(word) >= 4;
