-- A vendor's CSV imports from the dashboard: how far each has got (any instance can show its
-- progress page), and the file's lines that were refused, kept for the report.
CREATE TABLE product_imports (
    id BLOB PRIMARY KEY NOT NULL,
    vendor_id BLOB NOT NULL REFERENCES vendors (id),
    file_name TEXT NOT NULL,
    status TEXT NOT NULL,
    rows_read INTEGER NOT NULL,
    products INTEGER NOT NULL,
    written INTEGER NOT NULL DEFAULT 0,
    rejected TEXT NOT NULL,
    error TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX product_imports_vendor ON product_imports (vendor_id, created_at);
