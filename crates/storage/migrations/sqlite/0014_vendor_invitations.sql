-- An owner invites someone by email to join their vendor as staff; the invitee accepts by the
-- emailed link while signed in with that address. Tokens are created when the email is sent
-- (only their hashes are stored; a resent email adds one, earlier ones stay valid).
CREATE TABLE vendor_invitations (
    id BLOB PRIMARY KEY NOT NULL,
    vendor_id BLOB NOT NULL REFERENCES vendors (id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    invited_by BLOB REFERENCES users (id) ON DELETE SET NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    accepted_at INTEGER,
    accepted_by BLOB REFERENCES users (id) ON DELETE SET NULL,
    revoked_at INTEGER
);
CREATE INDEX vendor_invitations_vendor ON vendor_invitations (vendor_id, created_at);

CREATE TABLE vendor_invitation_tokens (
    token_hash BLOB PRIMARY KEY NOT NULL,
    invitation_id BLOB NOT NULL REFERENCES vendor_invitations (id) ON DELETE CASCADE
);
CREATE INDEX vendor_invitation_tokens_invitation ON vendor_invitation_tokens (invitation_id);
