-- What each role is called and grants changes rarely, but it was re-joined (user_roles →
-- role_permissions → permissions, DISTINCT over the concatenated names) on every
-- authenticated request. Each replica now keeps that catalogue in memory
-- (services/ulm/src/catalog.rs) and reads only the caller's role ids per request, together
-- with this stamp: any statement that changes roles, their permissions or the permission
-- list sets a new random stamp in its own transaction, so the next request on any replica
-- sees that the catalogue it holds is not the database's and reloads it first. A random
-- value rather than a counter, so that a database restored from an older backup can never
-- show a replica a stamp it already holds for other contents.
CREATE TABLE role_catalog (
    -- One row: the key can only be true.
    id    boolean PRIMARY KEY DEFAULT true CHECK (id),
    stamp uuid NOT NULL DEFAULT gen_random_uuid()
);
INSERT INTO role_catalog DEFAULT VALUES;

CREATE FUNCTION ulm_role_catalog_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE role_catalog SET stamp = gen_random_uuid();
    RETURN NULL;
END
$$;

CREATE TRIGGER roles_catalog_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON roles
    FOR EACH STATEMENT EXECUTE FUNCTION ulm_role_catalog_changed();
CREATE TRIGGER role_permissions_catalog_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON role_permissions
    FOR EACH STATEMENT EXECUTE FUNCTION ulm_role_catalog_changed();
CREATE TRIGGER permissions_catalog_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON permissions
    FOR EACH STATEMENT EXECUTE FUNCTION ulm_role_catalog_changed();
