-- Seeded roles and permissions (resource:action). System roles cannot be deleted.

INSERT INTO permissions (resource, action, description) VALUES
    ('users', 'read', 'list and view users'),
    ('users', 'write', 'create, edit, deactivate and delete users; end their sessions'),
    ('roles', 'read', 'list roles and permissions'),
    ('roles', 'write', 'create, edit and delete roles; assign roles to users'),
    ('api_keys', 'read', 'list own API keys'),
    ('api_keys', 'write', 'create and revoke own API keys'),
    ('audit', 'read', 'read the audit log and dashboard statistics'),
    ('settings', 'read', 'read the token policy and the mail outbox'),
    ('settings', 'write', 'change the token policy'),
    ('aam', 'access', 'use the admin area (AAM)');

INSERT INTO roles (name, description, is_system) VALUES
    ('super_admin', 'every permission', true),
    ('admin', 'user and role administration', true),
    ('developer', 'API keys and read access for integrations', true),
    ('support', 'read-only help desk access to users and audit', true),
    ('user', 'a signed-up person', true);

INSERT INTO role_permissions (role_id, permission_id)
SELECT r.id, p.id FROM roles r CROSS JOIN permissions p
WHERE r.name = 'super_admin'
   OR (r.name = 'admin' AND p.resource || ':' || p.action IN
        ('users:read', 'users:write', 'roles:read', 'roles:write', 'api_keys:read', 'api_keys:write',
         'audit:read', 'settings:read', 'aam:access'))
   OR (r.name = 'developer' AND p.resource || ':' || p.action IN
        ('api_keys:read', 'api_keys:write', 'roles:read'))
   OR (r.name = 'support' AND p.resource || ':' || p.action IN
        ('users:read', 'audit:read', 'aam:access'))
   OR (r.name = 'user' AND p.resource || ':' || p.action IN
        ('api_keys:read', 'api_keys:write'));
