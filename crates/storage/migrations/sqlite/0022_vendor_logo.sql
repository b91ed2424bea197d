-- A shop's logo: the path of an uploaded image (`/media/<sha256>.<ext>`), shown on its pages.
ALTER TABLE vendors ADD COLUMN logo_url TEXT;
