-- Vouchers, redemptions, idempotency records and the transactional outbox.
-- Counters carry CHECK constraints as a last line of defence; the redeem
-- transaction itself never lets them be violated.

CREATE TABLE vouchers (
    id                text PRIMARY KEY,
    code              text NOT NULL UNIQUE,
    type              text NOT NULL CHECK (type IN ('DISCOUNT_VOUCHER', 'GIFT_VOUCHER')),
    discount_type     text,
    amount_off        bigint NOT NULL DEFAULT 0,
    percent_off       double precision NOT NULL DEFAULT 0,
    amount_limit      bigint NOT NULL DEFAULT 0,
    gift_amount       bigint NOT NULL DEFAULT 0,
    gift_balance      bigint NOT NULL DEFAULT 0 CHECK (gift_balance >= 0),
    min_order_amount  bigint NOT NULL DEFAULT 0,
    quantity          bigint CHECK (quantity IS NULL OR quantity > 0),
    redeemed_quantity bigint NOT NULL DEFAULT 0 CHECK (redeemed_quantity >= 0),
    redeemed_amount   bigint NOT NULL DEFAULT 0,
    start_date        timestamptz,
    expiration_date   timestamptz,
    active            boolean NOT NULL DEFAULT true,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CHECK (quantity IS NULL OR redeemed_quantity <= quantity)
);

CREATE TABLE redemptions (
    seq             bigserial UNIQUE,
    id              text PRIMARY KEY,
    voucher_id      text NOT NULL REFERENCES vouchers (id),
    voucher_code    text NOT NULL,
    customer_id     text NOT NULL DEFAULT '',
    order_id        text NOT NULL DEFAULT '',
    order_amount    bigint NOT NULL,
    amount          bigint NOT NULL,
    remaining       bigint,
    app_id          text NOT NULL,
    idempotency_key text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    rolled_back     boolean NOT NULL DEFAULT false,
    rollback_id     text,
    rollback_reason text,
    rolled_back_at  timestamptz
);
CREATE INDEX redemptions_voucher ON redemptions (voucher_code, seq);
CREATE INDEX redemptions_customer ON redemptions (customer_id, seq);

-- One row per (application, Idempotency-Key), written in the same
-- transaction as the effect it records, with the answer to replay.
CREATE TABLE idempotency_keys (
    app_id       text NOT NULL,
    key          text NOT NULL,
    request_hash bytea NOT NULL,
    status       integer NOT NULL DEFAULT 0,
    response     bytea NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (app_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- The transactional outbox: one row per event and sink ("mongo", "partner"),
-- written in the transaction that commits the event's effect and relayed
-- afterwards, at least once; sinks deduplicate by event id.
CREATE TABLE outbox (
    id              bigserial PRIMARY KEY,
    sink            text NOT NULL,
    event_id        text NOT NULL,
    payload         jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    delivered_at    timestamptz,
    UNIQUE (sink, event_id)
);
CREATE INDEX outbox_pending ON outbox (sink, id) WHERE delivered_at IS NULL;
CREATE INDEX outbox_delivered ON outbox (delivered_at) WHERE delivered_at IS NOT NULL;
