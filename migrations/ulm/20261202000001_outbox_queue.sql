-- The outbox becomes a delivery queue that never holds a message. A row says only what to
-- send to whom; the worker (services/ulm/src/mail.rs) mints the link's token and composes
-- the mail at send time, so a database dump holds no usable link.
--
-- Rows from before carry live verification and reset links in `body`, and were never sent
-- (no SMTP existed): delete them rather than keep secrets or send stale mail.
DELETE FROM outbox;

ALTER TABLE outbox
    DROP COLUMN subject,
    DROP COLUMN body,
    -- The account a mail is about, when there is one (the "username taken" notice has none);
    -- a deleted account's queued mail goes with it.
    ADD COLUMN user_id uuid REFERENCES users (id) ON DELETE CASCADE,
    ADD COLUMN state text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'sent', 'failed')),
    ADD COLUMN attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    ADD COLUMN next_attempt_at timestamptz NOT NULL DEFAULT now(),
    -- The SMTP server's or the connection's complaint, never a credential or a link.
    ADD COLUMN last_error text CHECK (length(last_error) <= 500);

-- The worker's claim: due queued rows in order.
CREATE INDEX outbox_due_idx ON outbox (next_attempt_at) WHERE state = 'queued';
