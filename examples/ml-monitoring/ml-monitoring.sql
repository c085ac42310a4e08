-- Run: start riffle with --test-clock (so the SET riffle_test_clock lines move time), then
-- psql -h 127.0.0.1 -p 6875 -U riffle riffle -f examples/ml-monitoring/ml-monitoring.sql
-- Checked by tests/slt/riffle_ml_monitoring.slt, which runs the same statements with expected answers.
-- examples/ml-monitoring: trailing 3-hour accuracy, precision and recall of a conversion model,
-- with duplicated prediction events and conversions that arrive hours later.
SET riffle_test_clock = '2024-06-01 12:00:00+00';
CREATE TABLE leads (lead_id bigint NOT NULL, referrer text, created_at timestamptz NOT NULL);
CREATE TABLE predictions (lead_id bigint NOT NULL, model text, score double precision, predicted_at timestamptz NOT NULL);
CREATE TABLE conversions (lead_id bigint NOT NULL, value numeric(10,2), converted_at timestamptz NOT NULL);
CREATE MATERIALIZED VIEW scored_leads AS
  SELECT DISTINCT ON (p.lead_id) p.lead_id, p.model, p.score > 0.5 AS predicted, l.created_at,
         EXISTS (SELECT 1 FROM conversions c WHERE c.lead_id = p.lead_id) AS converted,
         (SELECT sum(c.value) FROM conversions c WHERE c.lead_id = p.lead_id) AS revenue
  FROM predictions p JOIN leads l ON l.lead_id = p.lead_id
  ORDER BY p.lead_id, p.predicted_at DESC;
CREATE MATERIALIZED VIEW model_quality_3h AS
  SELECT model,
         count(*) AS leads,
         avg(CASE WHEN predicted = converted THEN 1.0 ELSE 0.0 END) AS accuracy,
         sum(CASE WHEN predicted AND converted THEN 1 ELSE 0 END)::numeric / nullif(sum(CASE WHEN predicted THEN 1 ELSE 0 END), 0) AS precision,
         sum(CASE WHEN predicted AND converted THEN 1 ELSE 0 END)::numeric / nullif(sum(CASE WHEN converted THEN 1 ELSE 0 END), 0) AS recall,
         sum(CASE WHEN predicted AND converted THEN coalesce(revenue, 0) WHEN predicted THEN -5 ELSE 0 END) AS net_value
  FROM scored_leads
  WHERE created_at + INTERVAL '3 hours' > mz_now()
  GROUP BY model;
CREATE MATERIALIZED VIEW accuracy_alerts AS
  SELECT model, accuracy FROM model_quality_3h WHERE leads >= 3 AND accuracy < 0.6;
INSERT INTO leads VALUES (1, 'ads', '2024-06-01 10:00:00+00'), (2, 'ads', '2024-06-01 10:30:00+00'),
  (3, 'seo', '2024-06-01 11:00:00+00'), (4, 'seo', '2024-06-01 11:30:00+00');
INSERT INTO predictions VALUES (1, 'm1', 0.9, '2024-06-01 10:00:01+00'), (1, 'm1', 0.9, '2024-06-01 10:00:01+00'),
  (2, 'm1', 0.8, '2024-06-01 10:30:01+00'), (3, 'm1', 0.2, '2024-06-01 11:00:01+00'), (4, 'm1', 0.7, '2024-06-01 11:30:01+00');
SELECT * FROM model_quality_3h;
SELECT * FROM accuracy_alerts;
-- Conversions arrive later.
INSERT INTO conversions VALUES (1, 100, '2024-06-01 12:10:00+00'), (2, 40, '2024-06-01 12:20:00+00');
SELECT * FROM model_quality_3h;
SELECT * FROM accuracy_alerts;
-- Time passes with no input: leads older than 3 hours leave the window.
SET riffle_test_clock = '2024-06-01 13:45:00+00';
SELECT * FROM model_quality_3h;
SELECT * FROM accuracy_alerts;
