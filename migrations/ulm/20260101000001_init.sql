-- ULM schema: identities, credentials, sessions, RBAC, API keys, audit, mail outbox.
-- Every list/filter query has an index; foreign keys cascade where the child is
-- meaningless without the parent and SET NULL where history must survive.

CREATE FUNCTION ulm_touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END $$;

CREATE TABLE users (
    id                      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email                   text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    username                text NOT NULL CHECK (length(username) BETWEEN 3 AND 64),
    password_hash           text NOT NULL,
    display_name            text NOT NULL DEFAULT '' CHECK (length(display_name) <= 128),
    preferred_language      text NOT NULL DEFAULT 'en' CHECK (preferred_language IN ('en', 'he', 'ar')),
    status                  text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'deactivated')),
    email_verified_at       timestamptz,
    mfa_enabled             boolean NOT NULL DEFAULT false,
    mfa_secret              bytea,
    -- Secret set up but not yet confirmed by a first code.
    mfa_pending_secret      bytea,
    -- Last TOTP time step accepted: a code at or before it is a replay.
    mfa_last_step           bigint NOT NULL DEFAULT 0,
    deactivated_at          timestamptz,
    deactivation_reason     text,
    scheduled_deactivation_at     timestamptz,
    scheduled_deactivation_reason text,
    created_by              uuid REFERENCES users(id) ON DELETE SET NULL,
    last_login_at           timestamptz,
    password_changed_at     timestamptz NOT NULL DEFAULT now(),
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE UNIQUE INDEX users_username_key ON users (lower(username));
CREATE INDEX users_status_created_idx ON users (status, created_at DESC);
CREATE INDEX users_created_idx ON users (created_at DESC);
CREATE INDEX users_scheduled_deactivation_idx ON users (scheduled_deactivation_at)
    WHERE scheduled_deactivation_at IS NOT NULL;
CREATE INDEX users_created_by_idx ON users (created_by) WHERE created_by IS NOT NULL;
CREATE TRIGGER users_updated_at BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION ulm_touch_updated_at();

CREATE TABLE password_history (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    password_hash text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX password_history_user_idx ON password_history (user_id, created_at DESC);

CREATE TABLE roles (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text NOT NULL CHECK (name ~ '^[a-z][a-z0-9_]{1,62}$'),
    description text NOT NULL DEFAULT '',
    is_system   boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX roles_name_key ON roles (name);
CREATE TRIGGER roles_updated_at BEFORE UPDATE ON roles
    FOR EACH ROW EXECUTE FUNCTION ulm_touch_updated_at();

CREATE TABLE permissions (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    resource    text NOT NULL,
    action      text NOT NULL,
    description text NOT NULL DEFAULT '',
    UNIQUE (resource, action)
);

CREATE TABLE role_permissions (
    role_id       uuid NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    permission_id uuid NOT NULL REFERENCES permissions(id) ON DELETE CASCADE,
    PRIMARY KEY (role_id, permission_id)
);
CREATE INDEX role_permissions_permission_idx ON role_permissions (permission_id);

CREATE TABLE user_roles (
    user_id     uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role_id     uuid NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    assigned_by uuid REFERENCES users(id) ON DELETE SET NULL,
    assigned_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, role_id)
);
CREATE INDEX user_roles_role_idx ON user_roles (role_id);

-- A session is one login on one device: the family of refresh tokens rotated from it.
CREATE TABLE sessions (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id       uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    mfa           boolean NOT NULL DEFAULT false,
    ip            text NOT NULL DEFAULT '',
    user_agent    text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz NOT NULL DEFAULT now(),
    -- Absolute lifetime: rotation never extends a session past this.
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz,
    revoked_reason text
);
CREATE INDEX sessions_user_active_idx ON sessions (user_id, created_at DESC) WHERE revoked_at IS NULL;
CREATE INDEX sessions_user_idx ON sessions (user_id, created_at DESC);

CREATE TABLE refresh_tokens (
    token_hash  bytea PRIMARY KEY,
    session_id  uuid NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    -- Set when this token was exchanged; presenting it again is a replay.
    rotated_at  timestamptz
);
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);

-- Single-use e-mailed tokens (verification, password reset), stored hashed.
CREATE TABLE one_time_tokens (
    token_hash  bytea PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    purpose     text NOT NULL CHECK (purpose IN ('verify_email', 'reset_password')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX one_time_tokens_user_idx ON one_time_tokens (user_id, purpose);

CREATE TABLE mfa_recovery_codes (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_hash   bytea NOT NULL,
    used_at     timestamptz
);
CREATE INDEX mfa_recovery_codes_user_idx ON mfa_recovery_codes (user_id);

CREATE TABLE api_keys (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    prefix       text NOT NULL,
    key_hash     bytea NOT NULL,
    scopes       text[] NOT NULL DEFAULT '{}',
    expires_at   timestamptz,
    last_used_at timestamptz,
    revoked_at   timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX api_keys_hash_key ON api_keys (key_hash);
CREATE UNIQUE INDEX api_keys_user_name_key ON api_keys (user_id, lower(name)) WHERE revoked_at IS NULL;
CREATE INDEX api_keys_user_idx ON api_keys (user_id, created_at DESC);

CREATE TABLE audit_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    event_type  text NOT NULL,
    actor_id    uuid REFERENCES users(id) ON DELETE SET NULL,
    subject_id  uuid REFERENCES users(id) ON DELETE SET NULL,
    ip          text NOT NULL DEFAULT '',
    user_agent  text NOT NULL DEFAULT '',
    request_id  text NOT NULL DEFAULT '',
    details     jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_time_idx ON audit_events (occurred_at DESC);
CREATE INDEX audit_events_type_time_idx ON audit_events (event_type, occurred_at DESC);
CREATE INDEX audit_events_actor_idx ON audit_events (actor_id, occurred_at DESC);
CREATE INDEX audit_events_subject_idx ON audit_events (subject_id, occurred_at DESC);

-- One global token policy (a single row), not per user.
CREATE TABLE token_policy (
    id                     boolean PRIMARY KEY DEFAULT true CHECK (id),
    access_ttl_minutes     integer NOT NULL DEFAULT 15 CHECK (access_ttl_minutes BETWEEN 5 AND 1440),
    refresh_ttl_days       integer NOT NULL DEFAULT 7 CHECK (refresh_ttl_days BETWEEN 1 AND 90),
    updated_by             uuid REFERENCES users(id) ON DELETE SET NULL,
    updated_at             timestamptz NOT NULL DEFAULT now()
);
INSERT INTO token_policy DEFAULT VALUES;
CREATE TRIGGER token_policy_updated_at BEFORE UPDATE ON token_policy
    FOR EACH ROW EXECUTE FUNCTION ulm_touch_updated_at();

-- Mail that would be sent: the delivery path when no SMTP is configured.
CREATE TABLE outbox (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    to_email    text NOT NULL,
    kind        text NOT NULL,
    subject     text NOT NULL,
    body        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    sent_at     timestamptz
);
CREATE INDEX outbox_created_idx ON outbox (created_at DESC);
CREATE INDEX outbox_to_idx ON outbox (lower(to_email), created_at DESC);
