-- Additive: releases that do not know the column keep working (the default fills it).
ALTER TABLE tickets ADD COLUMN status text NOT NULL DEFAULT 'open';
CREATE INDEX tickets_status_idx ON tickets (status);
