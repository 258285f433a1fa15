-- Profile phone number: E.164 form ('+' and 8–15 digits, first digit not 0) as the API
-- normalises it, or '' for none. NOT NULL with a default keeps existing rows and readers simple.
ALTER TABLE users
    ADD COLUMN phone text NOT NULL DEFAULT ''
        CHECK (phone = '' OR phone ~ '^\+[1-9][0-9]{7,14}$');
