-- AAM's own data: the application registry, settings with history, AAM's audit log and
-- the health samples of the background poller. Users, roles and sessions live in ULM.

CREATE TABLE apps (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    code          text NOT NULL CHECK (code ~ '^[a-z][a-z0-9_-]{1,31}$'),
    name          text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    display_name  text NOT NULL CHECK (char_length(display_name) BETWEEN 1 AND 200),
    description   text NOT NULL DEFAULT '' CHECK (char_length(description) <= 2000),
    app_type      text NOT NULL CHECK (app_type IN ('web', 'api', 'service', 'worker', 'library', 'external')),
    status        text NOT NULL DEFAULT 'active'
                  CHECK (status IN ('planned', 'development', 'active', 'maintenance', 'deprecated', 'retired')),
    category      text NOT NULL DEFAULT 'general' CHECK (char_length(category) BETWEEN 1 AND 50),
    owner         text NOT NULL DEFAULT '' CHECK (char_length(owner) <= 200),
    version       text NOT NULL DEFAULT '' CHECK (char_length(version) <= 50),
    frontend_url  text CHECK (frontend_url ~ '^https?://'),
    backend_url   text CHECK (backend_url ~ '^https?://'),
    docs_url      text CHECK (docs_url ~ '^https?://'),
    tech_stack    text[] NOT NULL DEFAULT '{}',
    icon          text NOT NULL DEFAULT '' CHECK (char_length(icon) <= 100),
    color         text CHECK (color ~ '^#[0-9a-fA-F]{6}$'),
    tags          text[] NOT NULL DEFAULT '{}',
    display_order integer NOT NULL DEFAULT 0 CHECK (display_order BETWEEN -100000 AND 100000),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX apps_code_key ON apps (code);
CREATE INDEX apps_status_idx ON apps (status);
CREATE INDEX apps_type_idx ON apps (app_type);
CREATE INDEX apps_category_idx ON apps (category);
CREATE INDEX apps_tags_idx ON apps USING gin (tags);
CREATE INDEX apps_order_idx ON apps (display_order, name);

CREATE TABLE app_dependencies (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    consumer_id     uuid NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    provider_id     uuid NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    dependency_type text NOT NULL CHECK (dependency_type IN ('runtime', 'auth', 'data', 'build', 'optional')),
    criticality     text NOT NULL DEFAULT 'medium' CHECK (criticality IN ('critical', 'high', 'medium', 'low')),
    description     text NOT NULL DEFAULT '' CHECK (char_length(description) <= 1000),
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT app_dependencies_not_self CHECK (consumer_id <> provider_id)
);
CREATE UNIQUE INDEX app_dependencies_edge_key ON app_dependencies (consumer_id, provider_id, dependency_type);
CREATE INDEX app_dependencies_provider_idx ON app_dependencies (provider_id);

-- Only values that differ from the code-defined defaults are stored; the schema of each key
-- lives in the service (src/settings.rs), next to its default.
CREATE TABLE settings (
    category   text NOT NULL,
    key        text NOT NULL,
    value      jsonb NOT NULL,
    updated_by uuid,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (category, key)
);

CREATE TABLE settings_history (
    id              bigserial PRIMARY KEY,
    category        text NOT NULL,
    key             text NOT NULL,
    old_value       jsonb,
    new_value       jsonb,
    changed_by      uuid,
    changed_by_name text NOT NULL DEFAULT '',
    request_id      text NOT NULL DEFAULT '',
    changed_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX settings_history_key_idx ON settings_history (category, key, changed_at DESC, id DESC);

CREATE TABLE audit_log (
    id            bigserial PRIMARY KEY,
    occurred_at   timestamptz NOT NULL DEFAULT now(),
    actor_id      uuid,
    actor_name    text NOT NULL DEFAULT '',
    action        text NOT NULL CHECK (char_length(action) BETWEEN 1 AND 100),
    resource_type text NOT NULL CHECK (char_length(resource_type) BETWEEN 1 AND 100),
    resource_id   text NOT NULL DEFAULT '',
    old_value     jsonb,
    new_value     jsonb,
    ip            text NOT NULL DEFAULT '',
    user_agent    text NOT NULL DEFAULT '',
    request_id    text NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_time_idx ON audit_log (occurred_at DESC, id DESC);
CREATE INDEX audit_log_actor_idx ON audit_log (actor_id, occurred_at DESC);
CREATE INDEX audit_log_action_idx ON audit_log (action, occurred_at DESC);
CREATE INDEX audit_log_resource_idx ON audit_log (resource_type, resource_id, occurred_at DESC);

CREATE TABLE health_samples (
    id         bigserial PRIMARY KEY,
    component  text NOT NULL CHECK (component IN ('ulm', 'aam', 'postgres', 'redis')),
    status     text NOT NULL CHECK (status IN ('healthy', 'degraded', 'unhealthy')),
    latency_ms double precision NOT NULL CHECK (latency_ms >= 0),
    message    text NOT NULL DEFAULT '',
    checked_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX health_samples_component_idx ON health_samples (component, checked_at DESC);
CREATE INDEX health_samples_time_idx ON health_samples (checked_at);
