-- Run: start riffle with --test-clock (so the SET riffle_test_clock lines move time), then
-- psql -h 127.0.0.1 -p 6875 -U riffle riffle -f examples/feature-store/feature-store.sql
-- Checked by tests/slt/riffle_feature_store.slt, which runs the same statements with expected answers.
-- examples/feature-store: a trailing-3-hour conversion rate per referrer as a feature, current
-- values served from an index, and a point-in-time-correct training set (ASOF join of labels to
-- feature snapshots as they were when each label's lead arrived).
SET riffle_test_clock = '2024-06-01 12:00:00+00';
CREATE TABLE leads (lead_id bigint NOT NULL, referrer text, created_at timestamptz NOT NULL);
CREATE TABLE conversions (lead_id bigint NOT NULL, converted_at timestamptz NOT NULL);
CREATE MATERIALIZED VIEW referrer_rate_3h AS
  SELECT l.referrer, count(*) AS leads, count(c.lead_id) AS converted,
         round(count(c.lead_id)::numeric / count(*), 3) AS conversion_rate
  FROM leads l LEFT JOIN conversions c ON c.lead_id = l.lead_id
  WHERE l.created_at + INTERVAL '3 hours' > mz_now()
  GROUP BY l.referrer;
CREATE INDEX referrer_rate_by_referrer ON referrer_rate_3h (referrer);
-- Feature snapshots, appended by a job (or a SUBSCRIBE consumer) as the feature changes.
CREATE TABLE referrer_rate_history (referrer text, as_of timestamptz, conversion_rate numeric);
CREATE MATERIALIZED VIEW training_set AS
  SELECT l.lead_id, l.referrer, f.conversion_rate AS referrer_rate_at_arrival,
         EXISTS (SELECT 1 FROM conversions c WHERE c.lead_id = l.lead_id) AS label
  FROM leads l ASOF LEFT JOIN referrer_rate_history f ON l.referrer = f.referrer AND l.created_at >= f.as_of;
INSERT INTO leads VALUES (1, 'ads', '2024-06-01 10:00:00+00'), (2, 'ads', '2024-06-01 11:00:00+00'), (3, 'seo', '2024-06-01 11:30:00+00');
INSERT INTO conversions VALUES (1, '2024-06-01 11:50:00+00');
SELECT * FROM referrer_rate_3h;
SELECT conversion_rate FROM referrer_rate_3h WHERE referrer = 'ads';
INSERT INTO referrer_rate_history VALUES ('ads', '2024-06-01 09:00:00+00', 0.1), ('ads', '2024-06-01 10:30:00+00', 0.5), ('seo', '2024-06-01 12:00:00+00', 0.0);
SELECT * FROM training_set;
-- No future leakage: snapshots taken after a lead arrived never reach its training row.
INSERT INTO referrer_rate_history VALUES ('ads', '2024-06-01 11:00:00.001+00', 0.9), ('seo', '2024-06-01 11:45:00+00', 0.7);
SELECT * FROM training_set;
SET riffle_test_clock = '2024-06-01 13:30:00+00';
SELECT * FROM referrer_rate_3h;
