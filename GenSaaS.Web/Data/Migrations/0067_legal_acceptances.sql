-- Which version of the operator's terms of service and privacy policy each user accepted, and when (Features/Legal).
-- A user has accepted the documents as published when there is a row for each published document's current version
-- (LegalDocuments: the front matter's version, else the file's sha256). Rows are only ever added; an acceptance that is
-- asked for twice (two tabs, a double click) is one row.
-- via: 'sign_up' (the box on the sign-up form: password or Google/GitHub) or 'asked_again' (/legal/accept, after a new version).
CREATE TABLE legal_acceptances (
    user_id      TEXT NOT NULL REFERENCES AspNetUsers (Id) ON DELETE CASCADE,
    document     TEXT NOT NULL CHECK (document IN ('terms', 'privacy')),
    version      TEXT NOT NULL CHECK (length(version) BETWEEN 1 AND 80),
    accepted_at  TEXT NOT NULL,
    via          TEXT NOT NULL CHECK (via IN ('sign_up', 'asked_again')),
    PRIMARY KEY (user_id, document, version)
) WITHOUT ROWID;
