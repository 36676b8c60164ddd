-- Who may do what, as ArmoniK's authentication data holds it: a client certificate (its CN, and
-- its fingerprint when one is given) names a user, a user has roles, and a role grants
-- permissions named `Service:Rpc` (Sessions:PurgeSession).
CREATE TABLE auth_roles (
    role_name   text PRIMARY KEY,
    permissions text[] NOT NULL DEFAULT '{}'
);
CREATE TABLE auth_users (
    user_name text PRIMARY KEY,
    roles     text[] NOT NULL DEFAULT '{}'
);
CREATE TABLE auth_certificates (
    cn          text NOT NULL,
    -- '' matches any certificate with this CN that the CA signed; a fingerprint (SHA-1, lower
    -- case hex) only that one certificate, and wins over the CN alone.
    fingerprint text NOT NULL DEFAULT '',
    user_name   text NOT NULL REFERENCES auth_users ON DELETE CASCADE,
    PRIMARY KEY (cn, fingerprint)
);

-- The audit trail: every request to change a session, admitted or refused, with who made it.
-- Nothing in the control plane deletes from it: a Delete forgets the session's operations, not
-- who deleted it.
CREATE TABLE audit (
    seq          bigserial PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    requested_by text NOT NULL,
    permission   text NOT NULL,
    session_id   text COLLATE "C" NOT NULL,
    code         text NOT NULL,
    detail       text NOT NULL DEFAULT ''
);
CREATE INDEX audit_by_session ON audit (session_id, seq);

-- Who asked for each admitted operation, as its workflow was started.
ALTER TABLE operations ADD COLUMN requested_by text NOT NULL DEFAULT '';
