-- A vendor's public profile: a description shoppers see beside its name (plain text).
ALTER TABLE vendors ADD COLUMN description TEXT NOT NULL DEFAULT '';
