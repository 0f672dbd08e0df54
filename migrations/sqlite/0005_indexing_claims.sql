-- Which instance indexes which document, until when: an instance takes a document only
-- when no live claim of another holds it, and renews its claim while it works; a claim
-- whose instance died runs out and the document is taken over.
CREATE TABLE indexing_claims (
    document_id TEXT PRIMARY KEY,
    claimed_by TEXT NOT NULL,
    lease_until BIGINT NOT NULL
);
