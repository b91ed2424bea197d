-- The words of product titles, for correcting a shopper's one-letter slip in a search that
-- matches nothing (see crates/storage/src/catalog/typos.rs). Only ever added to (by every
-- product write): a word whose last product is gone stays, and a correction to it finds
-- nothing and is not offered. Byte order ("C"), so a prefix is one range of the index.
CREATE TABLE search_words (
    word TEXT COLLATE "C" PRIMARY KEY NOT NULL
);

INSERT INTO search_words (word)
SELECT DISTINCT w
  FROM products, regexp_split_to_table(lower(title), '[^[:alnum:]]+') AS w
 WHERE length(w) >= 4
ON CONFLICT DO NOTHING;
