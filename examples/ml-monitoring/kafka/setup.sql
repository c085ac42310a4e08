-- examples/ml-monitoring/kafka: the ML-monitoring views over Kafka topics instead of tables.
-- Run: psql -h 127.0.0.1 -p 6875 -U riffle riffle -v broker=127.0.0.1:9092 -f setup.sql
-- then feed the topics with generate.py. Checked by tests/kafka.rs (ml_monitoring_over_kafka),
-- which runs this file against a real broker.
CREATE CONNECTION kafka TO KAFKA (BROKER :'broker');
CREATE SOURCE leads (lead_id bigint, referrer text, created_at timestamptz)
  FROM KAFKA CONNECTION kafka (TOPIC 'leads') FORMAT JSON;
-- Prediction events may be duplicated (at-least-once producers); the view keeps one per lead.
CREATE SOURCE predictions (lead_id bigint, model text, score double precision, predicted_at timestamptz)
  FROM KAFKA CONNECTION kafka (TOPIC 'predictions') FORMAT JSON;
-- Conversions arrive hours after the lead.
CREATE SOURCE conversions (lead_id bigint, value numeric, converted_at timestamptz)
  FROM KAFKA CONNECTION kafka (TOPIC 'conversions') FORMAT JSON;
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
-- Alerts leave as a compacted topic: the latest state per model, a tombstone when it clears.
CREATE SINK accuracy_alerts_out FROM accuracy_alerts
  INTO KAFKA CONNECTION kafka (TOPIC 'accuracy-alerts') KEY (model) FORMAT JSON ENVELOPE UPSERT;
