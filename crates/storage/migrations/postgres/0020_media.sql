-- Uploaded images: each stored file (the display image and its thumbnails) by its
-- content-addressed name under the media directory. `original` ties a thumbnail to the display
-- image a product shows, so pages can offer every size (srcset) from one product image URL.
CREATE TABLE media (
    name TEXT PRIMARY KEY NOT NULL,
    original TEXT,
    vendor_id UUID NOT NULL REFERENCES vendors (id),
    content_type TEXT NOT NULL,
    width BIGINT NOT NULL,
    height BIGINT NOT NULL,
    bytes BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX media_original ON media (original, width);
