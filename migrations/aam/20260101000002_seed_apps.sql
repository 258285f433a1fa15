-- The registry starts with OVU's own two services and the edge between them.

INSERT INTO apps (code, name, display_name, description, app_type, status, category, owner, version,
                  frontend_url, backend_url, docs_url, tech_stack, icon, color, tags, display_order)
VALUES
    ('ulm', 'ULM', 'User Login Manager',
     'Sign-up, login, sessions, MFA, roles and permissions, API keys and the security audit log.',
     'web', 'active', 'identity', 'OVU', '0.1.0', NULL, NULL, NULL,
     '{rust,axum,postgresql,redis}', 'user-lock', '#2563eb', '{core,identity}', 10),
    ('aam', 'AAM', 'Admin Area Manager',
     'The admin back office: dashboard, user and role administration, application registry, settings, audit and system health.',
     'web', 'active', 'administration', 'OVU', '0.1.0', NULL, NULL, NULL,
     '{rust,axum,postgresql,redis}', 'shield', '#7c3aed', '{core,admin}', 20);

INSERT INTO app_dependencies (consumer_id, provider_id, dependency_type, criticality, description)
SELECT c.id, p.id, 'auth', 'critical', 'AAM verifies ULM access tokens and administers users and roles through ULM'
FROM apps c, apps p WHERE c.code = 'aam' AND p.code = 'ulm';
