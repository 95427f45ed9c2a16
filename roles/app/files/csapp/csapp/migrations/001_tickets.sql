CREATE TABLE tickets (
    id          bigserial PRIMARY KEY,
    customer    text NOT NULL,
    subject     text NOT NULL,
    body        text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);
