-- Run with: psql -h 127.0.0.1 -p 6875 -U riffle riffle -f examples/quickstart/quickstart.sql
DROP TABLE IF EXISTS predictions CASCADE;
DROP TABLE IF EXISTS conversions CASCADE;
CREATE TABLE predictions (lead_id bigint NOT NULL, model text, score double precision);
CREATE TABLE conversions (lead_id bigint NOT NULL, converted boolean);
CREATE MATERIALIZED VIEW model_quality AS
  SELECT p.model, count(*) AS scored,
         sum(CASE WHEN (p.score > 0.5) = coalesce(c.converted, false) THEN 1 ELSE 0 END) AS correct
  FROM predictions p LEFT JOIN conversions c ON c.lead_id = p.lead_id
  GROUP BY p.model;
INSERT INTO predictions VALUES (1, 'v1', 0.9), (2, 'v1', 0.2), (3, 'v2', 0.7);
INSERT INTO conversions VALUES (1, true), (3, false);
SELECT * FROM model_quality ORDER BY model;
UPDATE conversions SET converted = true WHERE lead_id = 3;
SELECT * FROM model_quality ORDER BY model;
