-- Audit log of admin and vendor writes: who, what, when, from where. Append-only.
CREATE TABLE audit_log (
    id UUID PRIMARY KEY NOT NULL,
    actor_user_id UUID REFERENCES users (id) ON DELETE SET NULL,
    actor_email TEXT NOT NULL,
    action TEXT NOT NULL,
    subject_type TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    vendor_id UUID REFERENCES vendors (id) ON DELETE SET NULL,
    ip TEXT NOT NULL DEFAULT '',
    details TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL
);
CREATE INDEX audit_log_vendor ON audit_log (vendor_id, id);
