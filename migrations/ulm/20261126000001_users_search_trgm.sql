-- The admin's user search (`GET /api/v1/users?q=`) is a substring match (ILIKE '%q%') on email,
-- username and display name. A B-tree cannot serve a leading wildcard, so without this every
-- search read the whole users table. Trigram GIN indexes can (pg_trgm is a trusted extension:
-- the database owner may create it, as the services' user does here). One index, one column
-- each: the three ILIKEs become a BitmapOr of its scans.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX users_search_trgm ON users
    USING gin (email gin_trgm_ops, username gin_trgm_ops, display_name gin_trgm_ops);
